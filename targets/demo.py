"""Demo erasure targets for `make run`: an evaluation set, an application log and a users table
(SQLite) in the data folder, holding the demo subjects, so a newcomer can file a request and
watch it complete.

The files go to `LUP_DEMO_DIR` and are registered by absolute path: that folder is always one
of the file roots, so the demo keeps working when `LUP_FILE_ROOTS` is set to one's own folders
(a relative path would follow the first root wherever it moves)."""

import contextlib
import gzip
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.db import transaction

from erasure.models import Target
from lineage.selectors import dataset_version_find
from targets.services import target_save

EVAL_SET = ("s3://sea-evals-kh", "khm-vie-qa", "v1")
# The operator ran `load_demo` themselves: its targets need no second person.
OPERATOR_LOADED = "demo data loaded by the operator (load_demo)"


def load_demo_erasure(*, emails: Sequence[str]) -> int:
    """Write the demo files and register their targets once; returns the targets added."""
    if Target.objects.filter(name="khmer-qa-eval").exists():
        return 0
    root = Path(settings.LUP_DEMO_DIR).resolve()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "khmer-qa-eval.jsonl", "w") as handle:
        for n, email in enumerate(emails):
            handle.write(
                json.dumps(
                    {
                        "question_id": n,
                        "user": {"email": email},
                        "question": "សួស្តី",
                        "answer": "xin chào",
                    }
                )
                + "\n"
            )
    with gzip.open(root / "app-log.jsonl.gz", "wt") as handle:
        for n, email in enumerate(emails):
            handle.write(json.dumps({"event": "chat.turn", "seq": n, "email": email}) + "\n")
    with contextlib.closing(sqlite3.connect(root / "app.db")) as db, db:
        db.execute("CREATE TABLE IF NOT EXISTS users (id TEXT, email TEXT, plan TEXT)")
        db.executemany(
            "INSERT INTO users VALUES (?, ?, 'free')",
            [(f"u{n}", email) for n, email in enumerate(emails)],
        )
    eval_version = dataset_version_find(*EVAL_SET)
    with transaction.atomic():
        target_save(
            name="khmer-qa-eval",
            kind="jsonl_file",
            country="KH",
            config={"path": str(root / "khmer-qa-eval.jsonl"), "match": {"email": "user.email"}},
            versions=[eval_version.pk] if eval_version else [],
            requires_approval=True,
        )
        target_save(
            name="app-log",
            kind="jsonl_file",
            country="SG",
            always=True,
            config={"path": str(root / "app-log.jsonl.gz"), "match": {"email": "email"}},
            preapproved=OPERATOR_LOADED,
        )
        target_save(
            name="app-users",
            kind="sqlite_table",
            country="SG",
            always=True,
            identity_source=True,
            config={
                "path": str(root / "app.db"),
                "table": "users",
                "match": {"email": "email"},
                "resolve": {"user_id": "id"},
            },
            preapproved=OPERATOR_LOADED,
        )
    return 3
