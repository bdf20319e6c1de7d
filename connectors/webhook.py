"""`webhook`: a system Lup cannot reach directly erases on request, and says what it did.

Config:

    {"url": "https://crm.internal/lup/erasure",  # the system's endpoint
     "secret_env": "CRM_WEBHOOK_SECRET",          # environment variable holding the HMAC key
                                                  # (or "secret_file", under the secret roots)
     "id_types": ["email", "user_id"], "timeout_seconds": 30}

Lup POSTs `{"request", "run", "identifiers", "callback"}` signed with HMAC-SHA256 over
`<timestamp>.<body>` (headers `X-Lup-Timestamp`, `X-Lup-Signature: sha256=<hex>`). The system
answers at once (200 `{"erased": n, "remaining": m}`) or later (202, then a POST to `callback`
signed the same way with the same body shape). A target that never answers stays waiting,
where staff see it. Receipts attest what the system reported, method `webhook`.

The endpoint must be public HTTPS (`connectors/destinations.py`): an inside address is refused
when the target is registered and again, after resolving the name, at every call, which then
connects to the address it checked. A redirect is not followed; it fails the run.
"""

import hashlib
import hmac
import http.client
import json
import re
import time
from typing import Any

from core.errors import ApplicationError

from . import config as checks
from . import destinations, schema, secrets
from .base import (
    Awaiting,
    Capability,
    Connector,
    ConnectorTimeout,
    Handover,
    Identifiers,
    Reported,
    TargetUnavailable,
)

METHOD = "webhook"
URL = re.compile(r"^https?://[^\s]+$")
# A signed message older (or newer) than this is refused: replays do not count.
MAX_SKEW_SECONDS = 300
# The most of an answer read: counts are a few bytes, and a system's error page is not kept.
MAX_ANSWER_BYTES = 1 << 20


class InvalidSignature(ApplicationError):
    code = "invalid_signature"
    status_code = 403


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return (
        "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )


def check_signature(
    *, secret: bytes, timestamp: str, signature: str, body: bytes, now: float | None = None
) -> None:
    now = time.time() if now is None else now
    if not timestamp.isdigit() or abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        raise InvalidSignature("The signature's timestamp is missing or stale.")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature or ""):
        raise InvalidSignature("The signature does not match.")


def result_counts(document: Any) -> tuple[int, int]:
    """(erased, remaining) from a system's answer, or a 502-style refusal if malformed."""
    try:
        erased, remaining = int(document["erased"]), int(document["remaining"])
    except (KeyError, TypeError, ValueError):
        raise ApplicationError(
            "The system's answer has no erased/remaining counts.", code="invalid_webhook_answer"
        ) from None
    if erased < 0 or remaining < 0:
        raise ApplicationError("Counts are whole numbers.", code="invalid_webhook_answer")
    return erased, remaining


class Webhook(Connector):
    kind = "webhook"
    config_schema = schema.config(
        description="A system that erases on request: a POST signed with HMAC-SHA256, "
        "answered at once or later on a signed callback.",
        properties={
            "url": {
                "type": "string",
                "pattern": "^https?://",
                "description": "The system's endpoint; no credentials in it (they go in the "
                "signature).",
            },
            **secrets.properties("secret", "the HMAC key that signs requests and callbacks"),
            "id_types": schema.id_types("The identifier types the system takes."),
        },
        required=["url", "id_types"],
        one_of=secrets.alternatives("secret"),
        example={
            "url": "https://crm.example.org/lup/erasure",
            "secret_env": "CRM_WEBHOOK_SECRET",
            "id_types": ["email", "user_id"],
        },
    )
    capabilities = frozenset({Capability.DELETE})
    hands_over = True
    erase_method = METHOD
    verify_method = METHOD

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.url = checks.text(
            self.config, "url", message="url is the system's http(s) endpoint.", valid=URL.match
        )
        self.signing_key = secrets.secret_of(self.config, "secret")
        takes = "id_types lists the identifier types the system takes."
        self.id_types = frozenset(checks.names(self.config, "id_types", message=takes))

    def secret(self) -> bytes:
        return self.signing_key.read().encode()

    def start(self, identifiers: Identifiers, *, handover: Handover) -> Awaiting | Reported:
        """POST the erasure; the system's counts, or `Awaiting.CALLBACK` when it answers 202."""
        body = json.dumps(
            {
                "request": handover.request_id,
                "run": handover.run_id,
                "callback": handover.callback_url,
                "identifiers": self.usable(identifiers),
            },
            separators=(",", ":"),
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Lup-Timestamp": timestamp,
            "X-Lup-Signature": sign(self.secret(), timestamp, body),
        }
        destination = destinations.resolved(self.url)
        connection = destinations.PinnedConnection(destination, timeout=self.timeout_seconds)
        try:
            connection.request("POST", destination.target, body=body, headers=headers)
            response = connection.getresponse()
            status, answer = response.status, response.read(MAX_ANSWER_BYTES)
        except TimeoutError:
            raise ConnectorTimeout("The system did not answer in time.") from None
        except (http.client.HTTPException, OSError):
            raise TargetUnavailable("The system's endpoint could not be reached.") from None
        finally:
            connection.close()
        if 300 <= status < 400:
            raise destinations.DestinationRefused(
                "The system answered with a redirect, which Lup does not follow: register the "
                "address it redirects to.",
                fields={"url": "redirect"},
            )
        if status >= 400:
            raise TargetUnavailable("The system's endpoint answered with an error.")
        if status == 202:
            return Awaiting.CALLBACK
        return self._counts(answer)

    def check_destination(self) -> None:
        # Here and at each call, not when the connector is built: a system's signed callback
        # is checked with the target as stored, whatever its url would be refused for now.
        destinations.check_registered(self.url)

    def callback(self, *, body: bytes, timestamp: str, signature: str) -> Reported:
        """The system's later report on its callback URL, signed like the call."""
        check_signature(secret=self.secret(), timestamp=timestamp, signature=signature, body=body)
        return self._counts(body)

    def _counts(self, answer: bytes) -> Reported:
        try:
            erased, remaining = result_counts(json.loads(answer))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApplicationError(
                "The system's answer is not JSON.", code="invalid_webhook_answer"
            ) from None
        return Reported(erased=erased, remaining=remaining, method=self.erase_method)
