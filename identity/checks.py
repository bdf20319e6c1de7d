"""Startup checks of the one-time code settings (ids lup.E060…)."""

from django.conf import settings
from django.core.checks import Error, register
from django.utils.module_loading import import_string

from identity.senders import CodeSender


@register()
def check_code_senders(app_configs, **kwargs) -> list[Error]:
    errors = []
    for id_type, path in settings.LUP_CODE_SENDERS.items():
        try:
            sender = import_string(path)
        except ImportError as exc:
            sender, reason = None, f"cannot be imported ({exc})"
        else:
            reason = "is not a subclass of identity.senders.CodeSender"
        if not (isinstance(sender, type) and issubclass(sender, CodeSender)):
            errors.append(
                Error(
                    f"LUP_CODE_SENDERS[{id_type!r}] = {path!r} {reason}.",
                    hint="Name a CodeSender subclass by its dotted path, such as "
                    "identity.senders.EmailCodeSender.",
                    id="lup.E060",
                )
            )
    for name in ("LUP_CODE_TTL_MINUTES", "LUP_CODE_MAX_ATTEMPTS"):
        if getattr(settings, name) < 1:
            errors.append(Error(f"{name} must be at least 1.", id="lup.E061"))
    return errors
