"""How the subject pages name the purposes they offer, in the subject's language. A purpose not
listed here shows its registered name."""

from django.utils.translation import gettext_lazy as _

LABELS = {
    "train_ai_system.fine_tuning": (
        _("Improving our AI models"),
        _("Your conversations may be used to train and fine-tune the models that answer you."),
    ),
    "train_ai_system.evaluation": (
        _("Testing our AI models"),
        _(
            "Your conversations may be used in test sets that check the quality and safety of "
            "our models."
        ),
    ),
    "essential.service.inference_logging": (
        _("Keeping logs of your requests"),
        _(
            "What you ask and what the service answers is kept in logs for a limited time, to "
            "find faults and abuse."
        ),
    ),
    "marketing.advertising": (
        _("Advertising"),
        _("Your data may be used to show you offers from us."),
    ),
}


def label(key: str, name: str) -> tuple[str, str]:
    return LABELS.get(key, (name, ""))
