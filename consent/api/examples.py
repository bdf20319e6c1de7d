"""Examples the OpenAPI document shows beside the consent operations (the docs UI renders
them): a subject in Cambodia who agreed to fine-tuning under notice `privacy` v3 in Khmer."""

from drf_spectacular.utils import OpenApiExample

KEY = "3f1c9e0b7a5d4c2e8f6a1b3d5c7e9f0a2b4d6c8e0f1a3b5c7d9e1f2a4b6c8d0e"
PHONE_KEY = "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
NONCE = "cQ3b1xR8kZ0vN5mT2wY7aE4uI6oP9sD1fG3hJ5kL7zA="
EMAIL = {"id_type": "email", "value": "sokha@example.org"}
NOTICE = {
    "key": "privacy",
    "version": 3,
    "language": "km",
    "digest": "sha256:9f2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a",
}
EVENT_IN = {
    "subject": {"id_type": "phone", "value": "+855 12 345 678"},
    "purpose": "train_ai_system.fine_tuning",
    "status": "given",
    "legal_basis": "consent",
    "jurisdiction": "KH",
    "notice": {"key": "privacy", "version": 3, "language": "km"},
    "method": "web",
    "event_time": "2026-11-01T09:30:00Z",
    "expires_at": None,
    "data_categories": ["user.content"],
}
EVENT_OUT = {
    "id": 1042,
    "purpose": "train_ai_system.fine_tuning",
    "status": "given",
    "legal_basis": "consent",
    "jurisdiction": "KH",
    "notice": NOTICE,
    "method": "web",
    "event_time": "2026-11-01T09:30:00Z",
    "expires_at": None,
    "data_categories": ["user.content"],
    "recorded_at": "2026-11-01T09:30:01Z",
    "receipt_id": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
}
IDENTIFIERS = [{"id_type": "email", "key": KEY}, {"id_type": "phone", "key": PHONE_KEY}]

CHECK_EXAMPLES = [
    OpenApiExample(
        "By e-mail",
        value={"subject": EMAIL, "purpose": "train_ai_system.fine_tuning"},
        request_only=True,
    ),
    OpenApiExample(
        "Allowed",
        value={
            "allowed": True,
            "purpose": "train_ai_system.fine_tuning",
            "reason": "given",
            "decided_by": {
                "event_id": 1042,
                "purpose": "train_ai_system",
                "status": "given",
                "legal_basis": "consent",
                "jurisdiction": "KH",
                "method": "web",
                "event_time": "2026-11-01T09:30:00Z",
                "expires_at": None,
                "notice": NOTICE,
            },
        },
        response_only=True,
    ),
]
EVENT_EXAMPLES = [
    OpenApiExample("Given on the web", value=EVENT_IN, request_only=True),
    OpenApiExample(
        "Withdrawn",
        value={
            "subject": EMAIL,
            "purpose": "train_ai_system",
            "status": "withdrawn",
            "legal_basis": "consent",
            "jurisdiction": "KH",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Recorded, with its receipt",
        value={
            **EVENT_OUT,
            "receipt": {
                "receipt_id": EVENT_OUT["receipt_id"],
                "type": "consent",
                "index": 12,
                "envelope": {"payload": "eyJjb25zZW50Ijp7…", "sig": "q1Vn0cW2…", "kid": "8da8683d"},
                "proof": "c2sp.org/tlog-proof@v1\nindex 12\n…",
            },
            "opening": {
                "nonce": "cQ3b1xR8kZ0vN5mT2wY7aE4uI6oP9sD1fG3hJ5kL7zA=",
                "id_type": "phone",
            },
        },
        response_only=True,
    ),
]
IMPORT_EXAMPLES = [
    OpenApiExample(
        "JSON lines",
        value='{"subject": {"id_type": "email", "value": "sokha@example.org"}, "purpose": '
        '"train_ai_system", "status": "withdrawn", "legal_basis": "consent", "jurisdiction": '
        '"KH"}\n',
        media_type="application/x-ndjson",
        request_only=True,
    ),
    OpenApiExample(
        "CSV",
        value="id_type,identifier,purpose,status,legal_basis,jurisdiction,notice_key,"
        "notice_version,notice_language,event_time\n"
        "email,sokha@example.org,train_ai_system.fine_tuning,given,consent,KH,privacy,3,km,"
        "2026-11-01T09:30:00Z\n",
        media_type="text/csv",
        request_only=True,
    ),
    OpenApiExample("Imported", value={"imported": 2, "subjects_created": 1}, response_only=True),
]
FILTER_EXAMPLES = [
    OpenApiExample(
        "E-mail addresses, one a line",
        value="sokha@example.org\ndara@example.org\nnot-an-address\n",
        media_type="text/plain",
        request_only=True,
    ),
    OpenApiExample(
        "The allowed lines (answer=lines), or one decision a line (answer=decisions)",
        value="sokha@example.org\n",
        media_type="text/plain",
        response_only=True,
    ),
]
NOTICE_IN = {
    "key": "privacy",
    "language": "km",
    "title": "ឯកជនភាព",
    "text": "We use your chats to improve the assistant; you may withdraw at any time.",
}
NOTICE_OUT = {
    **NOTICE_IN,
    "version": 3,
    "digest": NOTICE["digest"],
    "published_at": "2026-10-01T00:00:00Z",
}
NOTICE_EXAMPLES = [
    OpenApiExample("A new version (the next number)", value=NOTICE_IN, request_only=True),
    OpenApiExample("Published", value=NOTICE_OUT, response_only=True),
]
NOTICES_EXAMPLE = OpenApiExample("Published", value={"notices": [NOTICE_OUT]}, response_only=True)
PURPOSE = {
    "key": "train_ai_system.fine_tuning.khmer_asr",
    "parent": "train_ai_system.fine_tuning",
    "name": "Khmer speech recognition",
    "description": "Fine-tuning the Khmer speech model on support calls.",
    "is_custom": True,
}
PURPOSE_EXAMPLES = [
    OpenApiExample(
        "Below fine-tuning",
        value={key: value for key, value in PURPOSE.items() if key != "is_custom"},
        request_only=True,
    ),
    OpenApiExample("Created", value=PURPOSE, response_only=True),
]
PURPOSES_EXAMPLE = OpenApiExample(
    "Part of the tree",
    value={
        "purposes": [
            {
                "key": "train_ai_system",
                "parent": None,
                "name": "Train AI System",
                "description": "Training an AI system.",
                "is_custom": False,
            },
            PURPOSE,
        ]
    },
    response_only=True,
)
STATE_EXAMPLE = OpenApiExample(
    "Agreed to fine-tuning",
    value={
        "identifiers": IDENTIFIERS,
        "states": [
            {
                "purpose": "train_ai_system.fine_tuning",
                "status": "given",
                "legal_basis": "consent",
                "jurisdiction": "KH",
                "notice": NOTICE,
                "event": 1042,
                "event_time": "2026-11-01T09:30:00Z",
                "expires_at": None,
            }
        ],
    },
    response_only=True,
)
HISTORY_EXAMPLE = OpenApiExample("One event", value={"events": [EVENT_OUT]}, response_only=True)
RESOLVE_EXAMPLES = [
    OpenApiExample("By e-mail", value=EMAIL, request_only=True),
    OpenApiExample("Found", value={"key": KEY, "identifiers": IDENTIFIERS}, response_only=True),
]
LINK_EXAMPLES = [
    OpenApiExample(
        "A phone number to the subject known by e-mail",
        value={"subject": EMAIL, "identifier": {"id_type": "phone", "value": "+855 12 345 678"}},
        request_only=True,
    ),
    OpenApiExample("Linked", value={"identifiers": IDENTIFIERS}, response_only=True),
]
