"""Who did something, as audit trails, transitions and holds write it: an API token by its id,
a member of staff by username, a subject only as "subject:portal", and Lup itself as "system".
Never a subject's identifier."""

from typing import Any

SYSTEM = "system"
SUBJECT_PORTAL = "subject:portal"


def token_actor(token_id: int) -> str:
    return f"token:{token_id}"


def staff_actor(username: str) -> str:
    return f"staff:{username}"


def actor_of(user: Any) -> str:
    """The actor behind a request's user: a token's principal (it has `token_id`) or staff."""
    token_id = getattr(user, "token_id", None)
    if token_id is not None:
        return token_actor(token_id)
    return staff_actor(user.get_username())
