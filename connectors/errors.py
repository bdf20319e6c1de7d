"""The errors a connector raises, each with a stable code. `connectors.base` re-exports them."""

from collections.abc import Hashable, Mapping
from datetime import datetime

from rest_framework import status

from core.errors import ApplicationError


class ConnectorConfigError(ApplicationError):
    """A target's config is unusable. `fields` names the key; values that may be secret are
    never repeated in the message."""

    code = "invalid_target_config"


class PathOutsideRoots(ConnectorConfigError):
    """A file target's path does not lie under `settings.LUP_FILE_ROOTS` once resolved."""

    code = "path_outside_roots"


class NotSupported(ApplicationError):
    code = "capability_not_supported"


class NoUsableIdentifiers(ApplicationError):
    code = "identifier_type_not_supported"


class TargetUnavailable(ApplicationError):
    """The target could not be reached or answered with an error; worth retrying later."""

    code = "target_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


class ConnectorTimeout(TargetUnavailable):
    code = "connector_timeout"
    status_code = status.HTTP_504_GATEWAY_TIMEOUT


class HistoryUnreadable(ConnectorConfigError):
    """The target's history policy asks for a read of every row version, and the target
    database cannot give one (for `postgres_table`: no `pg_dirtyread`, or a role that may not
    run it)."""

    code = "history_unreadable"


class InlineSecret(ConnectorConfigError):
    """A config holds what looks like a secret (a `password` key, a DSN's `password=`): it
    names the environment variable that holds it instead."""

    code = "inline_secret"


class CredentialsInUrl(ConnectorConfigError):
    """A URL in a config carries credentials (`user:password@`, a `token=` parameter)."""

    code = "credentials_in_url"


class ObjectChanged(TargetUnavailable):
    """Another writer replaced an object between its read and its conditional replacement;
    the replacement was refused by the store, and reading again finishes the work."""

    code = "object_changed"
    status_code = status.HTTP_409_CONFLICT


class HeldByStore(ApplicationError):
    """The store itself forbids the erasure: an object lock, a retention period or a legal
    hold on an object version holding the subject. The run ends `held` with the lock as its
    exception (`basis`, `until`), never silently; `found` is, per group of a batch, how many
    items were seen."""

    code = "held_by_store"
    status_code = status.HTTP_409_CONFLICT

    def __init__(self, detail: str, *, basis: str, until: datetime, found: Mapping[Hashable, int]):
        super().__init__(detail, fields={"basis": basis})
        self.basis = basis
        self.until = until
        self.found = found


class TargetUnreachable(ApplicationError):
    """Registration's look at the target found something missing (the file, the table, a
    column, the variable naming its address) or could not reach it. `fields` names the key."""

    code = "target_unreachable"
