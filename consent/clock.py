from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """The registry's clock: expiry and "event in the future" read it, and tests move it."""
    return timezone.now()
