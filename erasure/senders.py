"""How a one-time code reaches the subject. Pluggable by identifier type
(`LUP_CODE_SENDERS`); the default sends e-mail through Django's email backend."""

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string


class CodeSender:
    """Deliver `code` to `address`. Subclasses override `send`; it must not log either."""

    def send(self, *, address: str, code: str, language: str = "en") -> None:
        raise NotImplementedError


class EmailCodeSender(CodeSender):
    subject = "Your code to confirm your deletion request"

    def send(self, *, address: str, code: str, language: str = "en") -> None:
        minutes = settings.LUP_CODE_TTL_MINUTES
        body = (
            f"Your code is {code}. It expires in {minutes} minutes.\n"
            "If you did not ask us to delete your data, ignore this message."
        )
        send_mail(self.subject, body, settings.DEFAULT_FROM_EMAIL, [address],
                  fail_silently=False)


def sender_for(id_type: str) -> CodeSender | None:
    path = settings.LUP_CODE_SENDERS.get(id_type)
    return import_string(path)() if path else None
