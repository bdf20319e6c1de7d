"""Bearer links: a random token in a page's address that opens one record, stored hashed.

`link_issue` makes a token and stores its hash; `link_resolve` finds what a token opens. How
long a link works is the caller's rule (the status page's ends a set time after its request
closes), since only the caller knows when its record is finished with.
"""

import hashlib
import secrets

from identity.models import BearerLink

ALGORITHM = "sha256"


def link_digest(token: str) -> str:
    return f"{ALGORITHM}${hashlib.sha256(token.encode()).hexdigest()}"


def link_issue(*, purpose: str, ref: str) -> str:
    """A new token for `ref`; the token itself is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    BearerLink.objects.create(digest=link_digest(token), purpose=purpose, ref=ref)
    return token


def link_resolve(*, purpose: str, token: str) -> str | None:
    """The ref a token opens for `purpose`, or None. Reads only."""
    if not token or len(token) > 200:
        return None
    return (
        BearerLink.objects.filter(digest=link_digest(token), purpose=purpose)
        .values_list("ref", flat=True)
        .first()
    )
