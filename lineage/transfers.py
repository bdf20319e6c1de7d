"""Cross-border flows: where a dataset's data moves between countries.

Two kinds: a run that reads a version stored in one country and writes one stored in another,
and a version stored in several countries. Each flow says whether a transfer basis is recorded
on the receiving location, and the origin country's cross-border rule (from the jurisdictions
app: mechanism, summary, sources, and whether it is unconfirmed), or null where the origin
country has no data file.
"""

from collections import defaultdict
from typing import Any

from jurisdictions.rules import jurisdiction
from lineage.models import RunDataset, StorageLocation


def _rule(country: str) -> dict[str, Any] | None:
    """The cross-border rule of the country data leaves from."""
    found = jurisdiction(country)
    if found is None:
        return None
    rule = found.rules["cross_border"]
    return {
        "country": country,
        "mechanism": rule.mechanism,
        "level": rule.level,
        "summary": rule.summary,
        "sources": list(rule.sources),
        "unconfirmed": rule.unconfirmed,
    }


def _locations(version_ids) -> dict[Any, list[StorageLocation]]:
    found: dict[Any, list[StorageLocation]] = defaultdict(list)
    locations = (
        StorageLocation.objects.filter(version_id__in=version_ids)
        .select_related("version__dataset")
        .order_by("id")
    )
    for location in locations:
        found[location.version_id].append(location)
    return found


def transfer_report() -> dict[str, list[dict[str, Any]]]:
    links = list(
        RunDataset.objects.select_related("run__job", "version__dataset").order_by("run_id")
    )
    located = _locations(
        {link.version_id for link in links}
        | set(StorageLocation.objects.values_list("version_id", flat=True))
    )
    by_run: dict[Any, dict[str, list]] = defaultdict(lambda: {"input": [], "output": []})
    for link in links:
        by_run[link.run][link.direction].append(link.version)

    flows = []
    for run, sides in by_run.items():
        for source in sides["input"]:
            for target in sides["output"]:
                for origin in located.get(source.pk, []):
                    for destination in located.get(target.pk, []):
                        if origin.country == destination.country:
                            continue
                        flows.append(
                            {
                                "kind": "run",
                                "run_id": str(run.run_id),
                                "job": f"{run.job.namespace}:{run.job.name}",
                                "from": _place(source, origin),
                                "to": _place(target, destination),
                                "basis_recorded": bool(destination.transfer_basis),
                                "basis": destination.transfer_basis or None,
                                "rule": _rule(origin.country),
                            }
                        )
    copies = []
    for locations in located.values():
        countries = {location.country for location in locations}
        if len(countries) < 2:
            continue
        version = locations[0].version
        home = locations[0]
        for other in locations[1:]:
            if other.country == home.country:
                continue
            copies.append(
                {
                    "kind": "copy",
                    "from": _place(version, home),
                    "to": _place(version, other),
                    "basis_recorded": bool(other.transfer_basis),
                    "basis": other.transfer_basis or None,
                    "rule": _rule(home.country),
                }
            )
    return {"flows": flows + copies}


def _place(version, location: StorageLocation) -> dict[str, str]:
    return {
        "dataset": f"{version.dataset.namespace}:{version.dataset.name}",
        "version": version.version,
        "version_id": str(version.pk),
        "country": location.country,
        "system": location.system,
        "uri": location.uri,
    }
