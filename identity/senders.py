"""How a one-time code reaches the subject. Pluggable by identifier type
(`LUP_CODE_SENDERS`, checked at startup: lup.E060); the default sends e-mail through Django's
email backend, in the subject's language."""

from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _


class CodeSender:
    """Deliver `code` to `address`. Subclasses override `send`; it must not log either.
    `about` says what the code confirms: "erasure" (a deletion request) or "consent" (access
    to the subject's consent choices)."""

    def send(
        self, *, address: str, code: str, language: str = "en", about: str = "erasure"
    ) -> None:
        raise NotImplementedError


class EmailCodeSender(CodeSender):
    def send(
        self, *, address: str, code: str, language: str = "en", about: str = "erasure"
    ) -> None:
        minutes = settings.LUP_CODE_TTL_MINUTES
        with translation.override(language):
            if about == "consent":
                subject = _("Your code to see your consent choices")
                ignore = _("If you did not ask to see your consent choices, ignore this message.")
            else:
                subject = _("Your code to confirm your deletion request")
                ignore = _("If you did not ask us to delete your data, ignore this message.")
            body = _("Your code is %(code)s. It expires in %(minutes)d minutes.") % {
                "code": code,
                "minutes": minutes,
            }
        send_mail(
            subject,
            f"{body}\n{ignore}\n",
            settings.DEFAULT_FROM_EMAIL,
            [address],
            fail_silently=False,
        )


def sender_for(id_type: str) -> CodeSender | None:
    """The sender for this identifier type, or None when codes cannot go to it."""
    path = settings.LUP_CODE_SENDERS.get(id_type)
    return import_string(path)() if path else None


def can_send(id_type: str) -> bool:
    """Whether a code can go to this identifier type (without building its sender)."""
    return bool(settings.LUP_CODE_SENDERS.get(id_type))
