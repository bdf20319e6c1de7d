"""The fideslang taxonomy, loaded once, as plain data."""

from functools import cache

from fideslang import DEFAULT_TAXONOMY


@cache
def data_uses() -> tuple[tuple[str, str | None, str, str], ...]:
    """(key, parent key, name, description) for every fideslang data use, parents first."""
    uses = [
        (use.fides_key, use.parent_key, use.name or use.fides_key, use.description or "")
        for use in DEFAULT_TAXONOMY.data_use
    ]
    return tuple(sorted(uses, key=lambda use: use[0].count(".")))


# Purposes Lup adds below fideslang's, for the uses AI products need to tell apart.
AI_PURPOSES: tuple[tuple[str, str, str, str], ...] = (
    (
        "train_ai_system.fine_tuning",
        "train_ai_system",
        "Fine-tuning",
        "Adapting a trained model to a task with the subject's data.",
    ),
    (
        "train_ai_system.evaluation",
        "train_ai_system",
        "Evaluation",
        "Measuring a model on evaluation sets that hold the subject's data.",
    ),
    (
        "essential.service.inference_logging",
        "essential.service",
        "Inference logging",
        "Keeping the subject's prompts and a model's answers in logs.",
    ),
)


@cache
def data_categories() -> frozenset[str]:
    return frozenset(category.fides_key for category in DEFAULT_TAXONOMY.data_category)
