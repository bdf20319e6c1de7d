"""1. Data: where training and evaluation data came from, where it lives, what it is for, which
subjects are in it, and whether their consent covers what it is used for."""

from collections import defaultdict
from typing import Any

from consent.selectors import consent_filter_keys, subject_jurisdictions
from core.errors import ApplicationError
from erasure.models import RequestSubjectKey, State
from lineage.models import DatasetVersion, Membership, ModelData, VersionEdge
from reports.readiness.links import gap, record

QUESTION = (
    "Where did the training and evaluation data come from, where does it live, what is it "
    "used for, and did the people in it consent to that use?"
)
UNKNOWN = "unknown"


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _provenance(version: DatasetVersion, derived: set) -> str | None:
    if version.created_by_run_id or version.pk in derived:
        return "run"
    return "origin" if version.origin else None


def data_section() -> dict[str, Any]:
    versions = list(
        DatasetVersion.objects.select_related("dataset")
        .prefetch_related("locations")
        .order_by("dataset__namespace", "dataset__name", "version")
    )
    derived = set(VersionEdge.objects.values_list("target_id", flat=True))
    uses: dict[Any, set[str]] = defaultdict(set)
    for version_id, kind in ModelData.objects.values_list("version_id", "kind"):
        uses[version_id].add(kind)
    indexed = set(Membership.objects.values_list("version_id", flat=True).distinct())

    rows, missing = [], []
    for version in versions:
        provenance = _provenance(version, derived)
        countries = sorted({location.country for location in version.locations.all()})
        has_index = version.membership_declared or version.pk in indexed
        rows.append(
            record(
                version,
                str(version),
                provenance=provenance,
                origin=version.origin or None,
                countries=countries,
                purposes=list(version.purposes),
                languages=list(version.languages),
                used_for=sorted(uses.get(version.pk, ())),
                membership_index=has_index,
            )
        )
        if provenance is None:
            missing.append(
                gap("no_provenance", "No run made it and no origin is registered.", version)
            )
        if not countries:
            missing.append(gap("no_location", "No storage location is recorded.", version))
        if not version.purposes:
            missing.append(gap("no_purpose", "No purpose of use is declared.", version))
        if version.pk in uses and not has_index:
            missing.append(
                gap(
                    "no_membership_index",
                    "Used by a model, but which subjects it holds is not indexed.",
                    version,
                )
            )

    used = [v for v in versions if v.pk in uses]
    with_index = [v for v in used if v.membership_declared or v.pk in indexed]
    consent, uncovered = _consent_coverage([v for v in used if v.pk in indexed])
    for version, purpose, count in uncovered:
        missing.append(
            gap(
                "purpose_without_consent",
                f"Used for {purpose}, which {count} of its subjects did not consent to.",
                version,
            )
        )
    return {
        "question": QUESTION,
        "figures": {
            "versions": len(versions),
            "versions_with_provenance": sum(1 for row in rows if row["provenance"]),
            "versions_with_location": sum(1 for row in rows if row["countries"]),
            "versions_with_purposes": sum(1 for row in rows if row["purposes"]),
            "training_or_eval_versions": len(used),
            "training_or_eval_versions_with_membership_index": len(with_index),
            "membership_index_share": _share(len(with_index), len(used)),
            "consent": consent,
        },
        "records": rows,
        "missing": missing,
    }


def _consent_coverage(versions: list[DatasetVersion]) -> tuple[dict[str, Any], list[tuple]]:
    """Whether each subject's consent covers every purpose declared on the indexed versions
    they are in: by purpose (subject-version pairs), by jurisdiction (distinct subjects, by
    their latest consent event) and overall; and each version used for a purpose some of its
    subjects did not consent to.

    Subjects whose erasure completed are counted apart: erasure withdrew their consent and
    erased what the targets reach, and what remains is the affected-model decision (section
    Oversight), not a use without consent."""
    erased = set(
        RequestSubjectKey.objects.filter(request__state=State.COMPLETED).values_list(
            "key", flat=True
        )
    )
    members: dict[Any, set[str]] = defaultdict(set)
    for version_id, key in Membership.objects.filter(
        version_id__in=[v.pk for v in versions]
    ).values_list("version_id", "subject_key"):
        members[version_id].add(key)
    erased_seen = set().union(*members.values()) & erased
    # Each purpose decided once for every subject any version uses it on: one pass of
    # consent_filter_keys per purpose, not per version.
    wanted: dict[str, set[str]] = defaultdict(set)
    for version in versions:
        members[version.pk] -= erased
        for purpose in version.purposes:
            wanted[purpose] |= members[version.pk]
    allowed = {purpose: _allowed(sorted(keys), purpose) for purpose, keys in wanted.items()}

    by_purpose: dict[str, dict[str, int]] = defaultdict(lambda: {"subjects": 0, "covered": 0})
    subject_ok: dict[str, bool] = {}
    uncovered: list[tuple[DatasetVersion, str, int]] = []
    for version in versions:
        keys = members[version.pk]
        for key in keys:
            subject_ok.setdefault(key, True)
        for purpose in version.purposes:
            covered = keys & allowed[purpose]
            counts = by_purpose[purpose]
            counts["subjects"] += len(keys)
            counts["covered"] += len(covered)
            for key in keys - covered:
                subject_ok[key] = False
            if len(covered) < len(keys):
                uncovered.append((version, purpose, len(keys) - len(covered)))

    places = subject_jurisdictions(keys=subject_ok)
    by_place: dict[str, dict[str, int]] = defaultdict(lambda: {"subjects": 0, "covered": 0})
    for key, ok in subject_ok.items():
        counts = by_place[places.get(key, UNKNOWN)]
        counts["subjects"] += 1
        counts["covered"] += ok

    def with_shares(table: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
        return {
            name: {**c, "share": _share(c["covered"], c["subjects"])}
            for name, c in sorted(table.items())
        }

    covered = sum(subject_ok.values())
    return {
        "subjects": len(subject_ok),
        "covered": covered,
        "share": _share(covered, len(subject_ok)),
        "erased_subjects_apart": len(erased_seen),
        "by_purpose": with_shares(by_purpose),
        "by_jurisdiction": with_shares(by_place),
    }, uncovered


def _allowed(keys: list[str], purpose: str) -> set[str]:
    """The keys whose consent allows `purpose`; none for a purpose the registry does not know
    (nobody can have consented to it)."""
    try:
        return {
            key
            for key, decision in consent_filter_keys(keys=keys, purpose_key=purpose)
            if decision.allowed
        }
    except ApplicationError:
        return set()
