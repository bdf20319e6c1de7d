"""`manage.py consent_import`: the API's bulk import from a file, with progress on stderr that
says how far it got and how fast, and never what it read."""

import io
import json
import re
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from consent.models import ConsentEvent
from core.progress import Progress
from core.subject_keys import key_for
from tests import identifiers
from tests.consent import factories as f

pytestmark = pytest.mark.django_db

PROGRESS = re.compile(
    r"^consent_import: [\d,]+ lines(, [\d.]+ (bytes|kB|MB))? in \d+ (s|min \d\d s)( \(.*\))?"
)


def event(email: str, purpose: str = "train_ai_system") -> dict:
    return {
        "subject": {"id_type": "email", "value": email},
        "purpose": purpose,
        "status": "given",
        "legal_basis": "consent",
        "jurisdiction": "VN",
        "notice": {"key": "privacy", "version": 1, "language": "en"},
        "event_time": "2026-03-01T00:00:00Z",
    }


@pytest.fixture
def emails():
    f.notice()
    return [identifiers.email() for _ in range(40)]


@pytest.fixture
def events_file(tmp_path, emails):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event(email)) + "\n" for email in emails))
    return path


def run(*args, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("consent_import", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def assert_no_personal_data(text: str, emails: list[str]) -> None:
    lowered = text.lower()
    for email in emails:
        assert email.lower() not in lowered
        assert key_for("email", email) not in lowered


def test_a_file_is_imported_with_progress_lines_that_hold_only_counts(events_file, emails):
    out, err = run(str(events_file), progress_every=0)
    assert out.strip() == "Imported 40 events; 40 new subjects."
    assert ConsentEvent.objects.count() == 40
    lines = err.splitlines()
    assert len(lines) >= 40  # every line, with no interval
    assert all(PROGRESS.match(line) for line in lines), lines[:3]
    assert "; every line read; checking and recording them" in err
    assert lines[-1].startswith("consent_import: 40 lines, ") and lines[-1].endswith(", done")
    assert_no_personal_data(err, emails)


def test_lines_come_every_interval_with_the_rate(events_file, monkeypatch):
    ticks = iter(range(10_000))
    monkeypatch.setattr(Progress, "clock", staticmethod(lambda: float(next(ticks))))
    _, err = run(str(events_file), progress_every=10)
    periodic = [line for line in err.splitlines() if not line.endswith(("done", "them"))]
    # One clock reading a line read: a line about every ten.
    assert 3 <= len(periodic) <= 5
    assert re.search(r"\(\d+ lines/s\)$", periodic[0])


def test_quiet_with_verbosity_zero(events_file):
    out, err = run(str(events_file), verbosity=0)
    assert err == ""
    assert "Imported 40 events" in out


def test_csv_and_standard_input(tmp_path, emails, monkeypatch):
    rows = "".join(
        f"email,{email},train_ai_system,given,consent,TH,privacy,1,en\n" for email in emails[:5]
    )
    data = (
        "id_type,identifier,purpose,status,legal_basis,jurisdiction,notice_key,"
        "notice_version,notice_language\n" + rows
    ).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    out, err = run("-", fmt="csv")
    assert out.strip() == "Imported 5 events; 5 new subjects."
    assert err.splitlines()[-1].startswith("consent_import: 6 lines")  # the header too
    assert_no_personal_data(err, emails)


def test_a_rejected_import_names_lines_and_codes_and_writes_nothing(tmp_path, emails):
    path = tmp_path / "bad.jsonl"
    bad = emails[1].replace("@", "")
    path.write_text(json.dumps(event(emails[0])) + "\n" + json.dumps(event(bad)) + "\n")
    with pytest.raises(CommandError) as raised:
        run(str(path), verbosity=0)
    message = str(raised.value)
    assert "line 2: subject: invalid_email" in message
    assert bad.lower() not in message.lower()
    assert ConsentEvent.objects.count() == 0


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No such file or directory"):
        run(str(tmp_path / "nothing.jsonl"))
