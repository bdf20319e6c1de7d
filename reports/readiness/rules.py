"""7. The strictest market: the rule set the composer derives for the served markets, with the
jurisdictions each rule comes from and whether it is unconfirmed."""

from typing import Any

from jurisdictions.composer import effective_rules

QUESTION = (
    "Across the markets served, which rule is the strictest on each point, and where does it "
    "come from?"
)


def rules_section(*, markets: list[str]) -> dict[str, Any]:
    composed = effective_rules(markets=markets, subject_country=None)
    missing = [
        {
            "code": "market_without_rules",
            "detail": f"{code} is served but has no jurisdiction data file.",
            "record": None,
        }
        for code in composed["without_data"]
    ]
    for name, rule in composed["rules"].items():
        if rule.get("unconfirmed"):
            missing.append(
                {
                    "code": "rule_unconfirmed",
                    "detail": f"The strictest {name.replace('_', ' ')} rule (from "
                    f"{', '.join(rule.get('from') or ['no jurisdiction'])}) is unconfirmed.",
                    "record": None,
                }
            )
    rules = {
        name: {
            key: rule.get(key)
            for key in (
                "value",
                "level",
                "label",
                "mechanism",
                "age",
                "deadline",
                "from",
                "unconfirmed",
                "summary",
                "strictest_confirmed",
            )
            if key in rule
        }
        for name, rule in composed["rules"].items()
    }
    return {
        "question": QUESTION,
        "figures": {
            "considered": composed["considered"],
            "without_data": composed["without_data"],
            "unconfirmed": sorted(n for n, r in composed["rules"].items() if r.get("unconfirmed")),
        },
        "records": [
            {"label": name.replace("_", " "), "rule": name, **rule} for name, rule in rules.items()
        ],
        "missing": missing,
    }
