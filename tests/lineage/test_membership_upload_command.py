"""`manage.py lineage_membership_upload`: a version's subjects from a file, streamed as the API
streams them, with progress on stderr that holds counts and never an identifier or a key."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.subject_keys import key_for
from lineage import services
from lineage.models import Membership
from lineage.services import VersionInput
from tests import identifiers

pytestmark = pytest.mark.django_db

PROGRESS = re.compile(
    r"^lineage_membership_upload: [\d,]+ lines(, [\d.]+ (bytes|kB|MB))? in \d+ s( \(.*\))?"
)


@pytest.fixture
def version():
    dataset = services.dataset_register(namespace="s3://ml-data", name="chat-logs")
    return services.version_register(dataset=dataset, data=VersionInput(version="2026-03"))


@pytest.fixture
def emails():
    return [identifiers.email() for _ in range(30)]


def run(*args, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("lineage_membership_upload", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_identifiers_are_uploaded_with_progress_that_names_none_of_them(tmp_path, version, emails):
    path = tmp_path / "members.txt"
    path.write_text("\n".join(emails) + "\n")
    out, err = run(str(version.pk), str(path), id_type="email", progress_every=0)
    assert out.strip() == "s3://ml-data:chat-logs @ 2026-03: 30 subjects in the membership index."
    assert set(Membership.objects.values_list("subject_key", flat=True)) == {
        key_for("email", email) for email in emails
    }
    lines = err.splitlines()
    assert len(lines) >= 30
    assert all(PROGRESS.match(line) for line in lines), lines[:3]
    assert "every line read; merging into the index" in err
    assert lines[-1].startswith("lineage_membership_upload: 30 lines, ")
    lowered = err.lower()
    for email in emails:
        assert email.lower() not in lowered
        assert key_for("email", email) not in lowered


def test_quiet_with_verbosity_zero(tmp_path, version, emails):
    path = tmp_path / "members.csv"
    path.write_text("identifier\n" + "\n".join(emails) + "\n")
    out, err = run(str(version.pk), str(path), id_type="email", verbosity=0)
    assert err == ""
    assert "30 subjects" in out


def test_bad_lines_reject_the_upload_naming_lines_not_values(tmp_path, version, emails):
    path = tmp_path / "members.txt"
    bad = emails[0].replace("@", " at ")
    path.write_text(f"{emails[1]}\n{bad}\n")
    with pytest.raises(CommandError) as raised:
        run(str(version.pk), str(path), id_type="email", verbosity=0)
    assert "line 2: invalid_email" in str(raised.value)
    assert bad.lower() not in str(raised.value).lower()
    assert not Membership.objects.exists()


def test_an_unknown_version_is_refused(tmp_path):
    path = tmp_path / "members.txt"
    path.write_text("0" * 64 + "\n")
    with pytest.raises(CommandError, match="No dataset version"):
        run("00000000-0000-0000-0000-000000000000", str(path))
