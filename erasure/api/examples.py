"""Examples the OpenAPI document shows beside the erasure operations (the docs UI renders them):
one request followed from filing to its plan, with the values a real run answers."""

from drf_spectacular.utils import OpenApiExample

REQUEST_ID = "102e44aa-c2f2-40e1-9fa6-d37692c5bcad"
MODEL_VERSION_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
RECEIVED_AT = "2026-11-01T09:30:00Z"
AT = "2026-11-01T09:31:00Z"


def _transition(from_state: str, to_state: str, actor: str, reason: str, at: str) -> dict:
    return {
        "from_state": from_state,
        "to_state": to_state,
        "actor": actor,
        "reason": reason,
        "at": at,
    }


FILED = _transition("", "received", "token:7", "filed through the API", RECEIVED_AT)
VERIFIED = _transition(
    "received", "verified", "token:7", "support_ticket: ticket 4711", "2026-11-01T09:31:00Z"
)
RECEIVED = {
    "id": REQUEST_ID,
    "state": "received",
    "channel": "api",
    "subject_country": "KH",
    "linked_to": None,
    "received_at": RECEIVED_AT,
    "verified_at": None,
    "deadline": None,
    "closed_at": None,
    "retention_until": None,
    "identifiers_shredded": False,
    "transitions": [FILED],
}
VERIFIED_REQUEST = {
    **RECEIVED,
    "state": "verified",
    "verified_at": "2026-11-01T09:31:00Z",
    "deadline": "2026-11-04T09:31:00Z",
    "transitions": [FILED, VERIFIED],
}
APPROVED_REQUEST = {
    **VERIFIED_REQUEST,
    "state": "executing",
    "transitions": [
        FILED,
        VERIFIED,
        _transition(
            "verified", "planned", "token:7", "2 target(s), 1 affected model(s)", RECEIVED_AT
        ),
        _transition("planned", "awaiting_approval", "token:7", "a model is affected", AT),
        _transition(
            "awaiting_approval",
            "executing",
            "staff:dara.officer",
            "model decision recorded; targets checked",
            "2026-11-02T03:00:00Z",
        ),
    ],
}

FILING_EXAMPLES = [
    OpenApiExample(
        "Filed by a service",
        value={
            "identifiers": [{"id_type": "email", "value": "sokha@example.org"}],
            "country": "KH",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Verified and planned by a trusted service (erasure:verify)",
        value={
            "identifiers": [
                {"id_type": "email", "value": "sokha@example.org"},
                {"id_type": "phone", "value": "+855 12 345 678"},
            ],
            "country": "KH",
            "verified": {"method": "support_ticket", "reason": "ticket 4711: identity checked"},
            "plan": True,
        },
        request_only=True,
    ),
    OpenApiExample("Received", value=RECEIVED, response_only=True, status_codes=["201", "200"]),
]
LIST_EXAMPLE = OpenApiExample("A page", value=RECEIVED, response_only=True)
RECEIVED_EXAMPLE = OpenApiExample("Received", value=RECEIVED, response_only=True)
VERIFIED_EXAMPLE = OpenApiExample("Verified", value=VERIFIED_REQUEST, response_only=True)
CODE_EXAMPLE = OpenApiExample("The code", value={"code": "483920"}, request_only=True)
MANUAL_EXAMPLE = OpenApiExample(
    "Checked another way",
    value={"reason": "Subject came to the Phnom Penh office with ID; ticket 4711."},
    request_only=True,
)
SENT_EXAMPLE = OpenApiExample(
    "Sent", value={"sent_to": "email"}, response_only=True, status_codes=["202"]
)
APPROVE_EXAMPLES = [
    OpenApiExample(
        "Approved",
        value={"reason": "Model decision recorded; the log and table targets checked."},
        request_only=True,
    ),
    OpenApiExample("Executing", value=APPROVED_REQUEST, response_only=True),
]
DENY_EXAMPLES = [
    OpenApiExample(
        "Denied",
        value={"reason": "The account is under a legal hold for an open fraud case."},
        request_only=True,
    ),
    OpenApiExample(
        "Denied",
        value={
            **VERIFIED_REQUEST,
            "state": "denied",
            "closed_at": "2026-11-02T03:00:00Z",
            "retention_until": "2026-12-02T03:00:00Z",
        },
        response_only=True,
    ),
]

PLAN = {
    "request": REQUEST_ID,
    "state": "awaiting_approval",
    "deadline": "2026-11-04T09:31:00Z",
    "rules": {
        "considered": ["SG", "KH"],
        "erasure_deadline": {
            "basis": "statutory",
            "deadline": {"amount": 72, "unit": "hours", "business": False, "extension": None},
            "due_at": "2026-11-04T09:31:00+00:00",
            "from": ["SG"],
            "unconfirmed": False,
            "summary": "Within 72 hours of a verified request.",
            "not_known_for": ["KH"],
            "rules": {},
        },
    },
    "targets": [
        {
            "target": "eval-harness-log",
            "kind": "text_log",
            "operation": "delete",
            "country": "KH",
            "reasons": [
                "s3://sea-evals-kh:khmer-qa version v1 holds this subject (membership uploaded)"
            ],
            "id_types": ["email"],
            "needs_resolution": False,
            "requires_approval": False,
        }
    ],
    "affected_models": [
        {
            "model": "sea-chat:khm-vie-assistant@1.0.0",
            "kinds": ["evaluated_on"],
            "decision": "pending",
            "justification": "",
            "decided_by": "",
            "decided_at": None,
        }
    ],
}
PLAN_EXAMPLE = OpenApiExample("Waiting for approval", value=PLAN, response_only=True)
MODEL_DECISION_EXAMPLES = [
    OpenApiExample(
        "Keep, with a justification",
        value={
            "model_version": MODEL_VERSION_ID,
            "decision": "keep",
            "justification": "Evaluated on the set only; no weights were trained on it.",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Recorded",
        value={
            **PLAN["affected_models"][0],
            "decision": "keep",
            "justification": "Evaluated on the set only; no weights were trained on it.",
            "decided_by": "staff:dara.officer",
            "decided_at": "2026-11-02T02:55:00Z",
        },
        response_only=True,
    ),
]
HOLD = {
    "id": 3,
    "subject_key": "",
    "target": 1,
    "basis": "litigation-2026-114",
    "until": "2027-06-30T00:00:00Z",
    "created_by": "staff:dara.officer",
    "created_at": "2026-11-01T08:00:00Z",
    "released_at": None,
}
HOLDS_EXAMPLE = OpenApiExample("In force", value={"holds": [HOLD]}, response_only=True)
HOLD_EXAMPLES = [
    OpenApiExample(
        "On a target",
        value={"target": 1, "basis": HOLD["basis"], "until": HOLD["until"]},
        request_only=True,
    ),
    OpenApiExample("Held", value=HOLD, response_only=True),
]
