"""How the OpenAPI document describes receipts, proofs and bundles (RECEIPTS.md §2, §6), with
examples of each. The answers are built by `ledger.selectors`; these serializers document."""

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

ORIGIN = "lup.localhost/receipts"
VERIFIER_KEY = f"{ORIGIN}+8da8683d+AXa0Sj8b9pS2Qm6xC1rT0pU4eW7yZ3vB5nD8fG2hJ4kL"
ROOT = "NGD8o1IyWE17Qk99zSyGHlZPyOwcRhuC0oNKnu/ZfyI="
CHECKPOINT = (
    f"{ORIGIN}\n7\n{ROOT}\n\n— {ORIGIN} jaaGg1Yc0pE9bZ2Qh3kV6tL8nR4wX5sM7dF1aC0eT2yU9iO3=\n"
)
PROOF = (
    "c2sp.org/tlog-proof@v1\nindex 4\n"
    "u7kT3sP0qL9mN2bV5cX8zA1dF4gH6jK0lQ3wE7rY9tI=\n"
    "Zx2Cv4Bn6Mm8Ql0Wk1Ej3Rh5Tg7Yf9Ud2Is4Oa6Pp8A=\n\n" + CHECKPOINT
)
ENVELOPE = {
    "payload": "eyJhY3Rpb24iOnsiY291bnQiOiIxIiwibWV0aG9kIjoic3FsX2JvdW5kX3N0YXRlbWVudHMi…",
    "sig": "q1Vn0cW2xZ4…Ed25519 signature, base64…",
    "kid": "8da8683d",
}
RECEIPT_ID = "70fc8996-041d-4f83-9bb3-4e47eafa366c"


class EnvelopeSerializer(serializers.Serializer):
    """A signed receipt: its payload is the RFC 8785 bytes of the receipt (§2)."""

    payload = serializers.CharField(help_text="base64 of the receipt's canonical JSON bytes")
    sig = serializers.CharField(help_text="base64 Ed25519 signature over those bytes")
    kid = serializers.CharField(help_text="the signing key's id, 8 hex digits")


class ReceiptDocumentSerializer(serializers.Serializer):
    receipt_id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=["consent", "erasure.target", "erasure.request"])
    index = serializers.IntegerField(help_text="Its leaf's index in the log.")
    envelope = EnvelopeSerializer()
    proof = serializers.CharField(
        help_text="C2SP tlog-proof@v1: its inclusion proof and the checkpoint it leads to."
    )


class BundleReceiptSerializer(serializers.Serializer):
    envelope = EnvelopeSerializer()
    proof = serializers.CharField(help_text="C2SP tlog-proof@v1, against the bundle's checkpoint")


class OpeningSerializer(serializers.Serializer):
    """Opens the receipts' subject commitment with the subject's own identifier (§5)."""

    nonce = serializers.CharField(help_text="base64")
    id_type = serializers.CharField()


class ShardSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="sha256 of the object key or path")
    before = serializers.CharField()
    after = serializers.CharField()


class BundleSerializer(serializers.Serializer):
    """A closed request's receipts, each with its proof against one checkpoint: it verifies
    offline (`python -m ledger.verify bundle`, `lup verify bundle`)."""

    format = serializers.ChoiceField(choices=["lup-bundle/1"])
    verifier_key = serializers.CharField(help_text="C2SP verifier key text of the signer")
    receipts = BundleReceiptSerializer(many=True)
    opening = OpeningSerializer()
    manifests = serializers.DictField(
        child=ShardSerializer(many=True),
        required=False,
        help_text="By receipt id: the shard manifest a sharded target's receipt digests.",
    )


RECEIPT_EXAMPLE = OpenApiExample(
    "A target's receipt",
    value={
        "receipt_id": RECEIPT_ID,
        "type": "erasure.target",
        "index": 4,
        "envelope": ENVELOPE,
        "proof": PROOF,
    },
)
BUNDLE_EXAMPLE = OpenApiExample(
    "A closed request's bundle",
    value={
        "format": "lup-bundle/1",
        "verifier_key": VERIFIER_KEY,
        "receipts": [
            {"envelope": ENVELOPE, "proof": PROOF},
            {
                "envelope": {**ENVELOPE, "payload": "eyJhZmZlY3RlZF9tb2RlbHMiOltdLC…"},
                "proof": PROOF,
            },
        ],
        "opening": {"nonce": "cQ3b1xR8kZ0vN5mT2wY7aE4uI6oP9sD1fG3hJ5kL7zA=", "id_type": "email"},
    },
)
