"""3. Cross-border: every flow of training or evaluation data between countries, the rule that
governs it, and whether a transfer basis is recorded; flows without one first."""

from typing import Any

from lineage.models import DatasetVersion
from lineage.transfers import transfer_report
from reports.readiness.links import admin_url

QUESTION = "Which data crosses borders, under which country's rule, and on what recorded basis?"


def _describe(place: dict[str, str]) -> str:
    return f"{place['dataset']} @ {place['version']} ({place['country']})"


def _version_url(place: dict[str, str]) -> str | None:
    # Only the primary key goes into the URL, so an unsaved instance is enough.
    return admin_url(DatasetVersion(pk=place["version_id"]))


def transfers_section() -> dict[str, Any]:
    flows = [
        {**flow, "admin_url": _version_url(flow["to"])}
        for flow in sorted(transfer_report()["flows"], key=lambda flow: flow["basis_recorded"])
    ]
    missing = [
        {
            "code": "transfer_without_basis",
            "detail": f"{_describe(flow['from'])} to {_describe(flow['to'])}: no transfer basis "
            "is recorded at the receiving location.",
            "record": {
                "label": _describe(flow["to"]),
                "id": flow["to"]["version_id"],
                "admin_url": flow["admin_url"],
            },
        }
        for flow in flows
        if not flow["basis_recorded"]
    ]
    countries = sorted({(f["from"]["country"], f["to"]["country"]) for f in flows})
    return {
        "question": QUESTION,
        "figures": {
            "flows": len(flows),
            "flows_without_basis": len(missing),
            "country_pairs": [f"{a}->{b}" for a, b in countries],
        },
        "records": flows,
        "missing": missing,
    }
