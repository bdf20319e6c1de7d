import base64
import hashlib
import uuid

from ledger.services import receipts_issue

COMMIT = base64.b64encode(hashlib.sha256(b"test commitment").digest()).decode()


def target_body(n: int = 0, **overrides) -> dict:
    body = {
        "type": "erasure.target",
        "subject": {"commit": COMMIT},
        "request": {"id": str(uuid.UUID(int=1))},
        "target": {"id": f"t{n}", "kind": "jsonl_file", "name": f"eval set {n}", "location": "SG"},
        "outcome": "erased",
        "action": {
            "op": "delete",
            "method": "jsonl-rewrite",
            "count": str(n + 1),
            "started_at": "2026-11-26T09:59:59Z",
            "completed_at": "2026-11-26T10:00:00Z",
        },
        "postcheck": {"method": "jsonl-scan", "remaining": "0", "at": "2026-11-26T10:00:00Z"},
    }
    body.update(overrides)
    return body


def issue(count: int):
    return receipts_issue(bodies=[target_body(n) for n in range(count)])
