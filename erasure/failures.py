"""What a failed attempt at a target run is called, and whether it is worth another try.

Every exception a run can raise gets a stable code, recorded on the run and shown to staff:
the connectors' own refusals keep theirs; anything else is named by its family (a file
missing, a database constraint, a timeout), never by its message, which may hold the values
the run was erasing.
"""

import errno

from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, IntegrityError

from core.errors import ApplicationError

# A config the connector refuses will refuse again: the run fails at once, so staff can fix
# the target and retry the request's failed targets.
PERMANENT = frozenset(
    {
        "invalid_target_config",
        "path_outside_roots",
        "webhook_destination_refused",
        "unknown_connector_kind",
        "capability_not_supported",
        "operation_not_supported",
        "identifier_type_not_supported",
        "invalid_erase_op",
        "unknown_table",
        "unknown_column",
        "history_unreadable",
    }
)


def error_code(exc: BaseException) -> str:
    """The stable code of a failed attempt."""
    if isinstance(exc, ApplicationError):
        return exc.code
    if isinstance(exc, SoftTimeLimitExceeded | TimeLimitExceeded):
        return "task_timeout"
    if isinstance(exc, TimeoutError):
        return "connector_timeout"
    if isinstance(exc, IntegrityError):
        return "target_constraint_violation"  # e.g. a foreign key still pointing at the rows
    if isinstance(exc, DatabaseError):
        return "target_database_error"
    if isinstance(exc, FileNotFoundError):
        return "file_not_found"
    if isinstance(exc, PermissionError) or getattr(exc, "errno", None) == errno.EACCES:
        return "permission_denied"
    if isinstance(exc, OSError):
        return "target_unavailable"
    return "unexpected_error"


def retryable(code: str, *, attempts: int) -> bool:
    return code not in PERMANENT and attempts < settings.LUP_RUN_MAX_ATTEMPTS


def backoff_seconds(attempts: int) -> int:
    """Seconds before the next try after `attempts` failed ones: doubling from the setting."""
    return settings.LUP_RUN_RETRY_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)
