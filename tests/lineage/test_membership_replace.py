"""`membership_replace`: a scan's keys become a version's whole membership at once; a scan
that fails, finds nobody or hands a malformed key changes nothing and leaves nothing staged."""

import uuid

import pytest

from core.errors import ApplicationError
from core.subject_keys import key_for
from lineage import membership
from lineage import services as lineage
from lineage.membership import membership_replace
from lineage.models import Membership, MembershipStage
from lineage.services import VersionInput

pytestmark = pytest.mark.django_db
SOURCE = "membership indexed by scanning target evals"


def version(name: str):
    return lineage.version_register(
        dataset=lineage.dataset_register(namespace="s3://evals", name=name),
        data=VersionInput(version="1"),
    )


def keys(*numbers: int) -> list[str]:
    return [key_for("email", f"p{n}@example.org") for n in numbers]


def members(v) -> set[str]:
    return set(Membership.objects.filter(version=v).values_list("subject_key", flat=True))


def test_the_keys_replace_every_versions_membership(monkeypatch):
    monkeypatch.setattr(membership, "WRITE_BATCH", 2)
    first, second = version("a"), version("b")
    membership_replace(versions=[first], keys=keys(1, 2, 3), stage=uuid.uuid4(), source=SOURCE)
    staged: list[int] = []

    count = membership_replace(
        versions=[first, second],
        keys=iter(keys(3, 4, 4, 5, 3)),  # a generator, duplicates and all
        stage=uuid.uuid4(),
        source=SOURCE,
        progress=staged.append,
    )

    assert count == 3
    assert members(first) == members(second) == set(keys(3, 4, 5))
    assert staged == [2, 4, 5]  # batches of two distinct keys (a key is deduplicated per batch)
    first.refresh_from_db()
    assert (first.membership_declared, first.membership_source) == (True, SOURCE)
    assert not MembershipStage.objects.exists()


def failing_scan():
    yield from keys(7, 8, 9)
    raise OSError("the file went away")


@pytest.mark.parametrize(
    ("scan", "code"),
    [
        (failing_scan, None),
        (lambda: iter(()), "empty_membership"),
        (lambda: iter([*keys(7), "not a key"]), "invalid_key"),
    ],
)
def test_a_scan_that_fails_changes_nothing(monkeypatch, scan, code):
    monkeypatch.setattr(membership, "WRITE_BATCH", 2)
    v = version("c")
    membership_replace(versions=[v], keys=keys(1, 2), stage=uuid.uuid4(), source=SOURCE)

    with pytest.raises((ApplicationError, OSError)) as excinfo:
        membership_replace(versions=[v], keys=scan(), stage=uuid.uuid4(), source=SOURCE)

    assert getattr(excinfo.value, "code", None) == code
    assert members(v) == set(keys(1, 2))
    assert not MembershipStage.objects.exists()


def test_a_refused_swap_changes_nothing():
    v = version("d")
    membership_replace(versions=[v], keys=keys(1), stage=uuid.uuid4(), source=SOURCE)

    def superseded():
        raise ApplicationError("A newer build was asked for.", code="index_superseded")

    with pytest.raises(ApplicationError):
        membership_replace(
            versions=[v], keys=keys(2), stage=uuid.uuid4(), source=SOURCE, confirm=superseded
        )
    assert members(v) == set(keys(1))
    assert not MembershipStage.objects.exists()
