"""Demo lineage for `make run`: the example manifest, and which demo subjects are in the raw
chat logs (by identifier, hashed on arrival like any upload)."""

import io
from collections.abc import Sequence
from pathlib import Path

from django.db import transaction

from lineage.manifest import manifest_load, manifest_register
from lineage.membership import membership_upload
from lineage.models import Dataset, DatasetVersion

EXAMPLE = Path(__file__).resolve().parent / "examples" / "manifest.yaml"
RAW = ("s3://sea-chat-raw-sg", "chat-logs")


def load_demo_lineage(*, member_emails: Sequence[str]) -> dict[str, int]:
    """Register the example pipeline once; returns what was added (empty when already there)."""
    if Dataset.objects.filter(namespace=RAW[0], name=RAW[1]).exists():
        return {}
    with transaction.atomic():
        added = manifest_register(document=manifest_load(text=EXAMPLE.read_text()))
        raw = (
            DatasetVersion.objects.filter(dataset__namespace=RAW[0], dataset__name=RAW[1])
            .order_by("created_at")
            .first()
        )
        body = "".join(f"{email}\n" for email in member_emails).encode()
        added["members"] = membership_upload(
            version=raw, stream=io.BytesIO(body), content_type="text/plain", id_type="email"
        )
    return added
