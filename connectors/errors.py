"""The errors a connector raises, each with a stable code. `connectors.base` re-exports them."""

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


class TargetUnreachable(ApplicationError):
    """Registration's look at the target found something missing (the file, the table, a
    column, the variable naming its address) or could not reach it. `fields` names the key."""

    code = "target_unreachable"
