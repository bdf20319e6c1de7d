"""4. Evaluations in the users' languages: for each model version deployed to a served market,
the evaluation sets it was evaluated on and whether they cover the market's main languages
(`LUP_MARKET_LANGUAGES`)."""

from collections import defaultdict
from typing import Any

from django.conf import settings

from lineage.models import ModelData, ModelVersion
from reports.readiness.links import gap, record

QUESTION = "Was each model evaluated in the languages of the markets it is deployed to?"


def evaluations_section(*, markets: list[str]) -> dict[str, Any]:
    served = set(markets)
    deployed = [
        m
        for m in ModelVersion.objects.select_related("model").order_by(
            "model__namespace", "model__name", "version"
        )
        if served & set(m.markets)
    ]
    evals: dict[Any, list] = defaultdict(list)
    for link in (
        ModelData.objects.filter(kind="evaluated_on", model_version__in=[m.pk for m in deployed])
        .select_related("version__dataset")
        .order_by("version__dataset__name")
    ):
        evals[link.model_version_id].append(link.version)

    rows, missing, pairs, covered_pairs = [], [], 0, 0
    unlabelled = set()
    for model in deployed:
        sets = evals.get(model.pk, [])
        languages = sorted({code for version in sets for code in version.languages})
        per_market = {}
        for market in sorted(served & set(model.markets)):
            needed = list(settings.LUP_MARKET_LANGUAGES.get(market, []))
            lacking = [code for code in needed if code not in languages]
            per_market[market] = {"languages": needed, "missing": lacking}
            pairs += 1
            covered_pairs += not lacking
            if not needed:
                missing.append(
                    gap(
                        "market_languages_unknown",
                        f"No main languages are configured for {market}.",
                        model,
                    )
                )
            elif lacking:
                missing.append(
                    gap(
                        "eval_language_gap",
                        f"Deployed to {market}, but no evaluation set is in {', '.join(lacking)}.",
                        model,
                    )
                )
        for version in sets:
            if not version.languages and version.pk not in unlabelled:
                unlabelled.add(version.pk)
                missing.append(
                    gap(
                        "eval_set_without_languages",
                        "An evaluation set that declares no languages.",
                        version,
                    )
                )
        rows.append(
            record(
                model,
                str(model),
                markets=sorted(model.markets),
                eval_sets=[record(v, str(v), languages=list(v.languages)) for v in sets],
                languages=languages,
                by_market=per_market,
            )
        )
    return {
        "question": QUESTION,
        "figures": {
            "deployed_model_versions": len(deployed),
            "model_market_pairs": pairs,
            "pairs_with_languages_covered": covered_pairs,
            "market_languages": {m: settings.LUP_MARKET_LANGUAGES.get(m, []) for m in markets},
        },
        "records": rows,
        "missing": missing,
    }
