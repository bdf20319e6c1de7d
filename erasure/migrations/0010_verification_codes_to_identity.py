"""Erasure requests' one-time codes move to the identity app: each VerificationCode row becomes
an identity OneTimeCode of the scope erasure-request:<request id>, with its hash, channel,
expiry, attempts, use and creation time unchanged (the hash was always bound to the request id
under the salt the identity store keeps, so codes pending during the upgrade still work). Then
the erasure table is dropped. Reversible: going back copies the request codes the other way."""

from django.db import migrations

SCOPE = "erasure-request:"
FIELDS = ["code_hash", "channel", "expires_at", "attempts", "consumed_at"]
BATCH = 1000


def _copy(source, make, target):
    """Copy rows oldest first, keeping created_at (which auto_now_add would set on insert).
    `make` returns the copy of a row, or None to leave it out."""
    batch = []
    for row in source.order_by("created_at", "id").iterator(chunk_size=BATCH):
        copy = make(row)
        if copy is not None:
            batch.append((row.created_at, copy))
        if len(batch) == BATCH:
            _write(target, batch)
            batch = []
    _write(target, batch)


def _write(target, batch):
    created = target.objects.bulk_create([copy for _, copy in batch])
    for (created_at, _), copy in zip(batch, created, strict=True):
        copy.created_at = created_at
    target.objects.bulk_update(created, ["created_at"])


def codes_to_identity(apps, schema_editor):
    VerificationCode = apps.get_model("erasure", "VerificationCode")
    OneTimeCode = apps.get_model("identity", "OneTimeCode")
    _copy(
        VerificationCode.objects.all(),
        lambda row: OneTimeCode(
            scope=f"{SCOPE}{row.request_id}", **{name: getattr(row, name) for name in FIELDS}
        ),
        OneTimeCode,
    )


def codes_to_erasure(apps, schema_editor):
    VerificationCode = apps.get_model("erasure", "VerificationCode")
    OneTimeCode = apps.get_model("identity", "OneTimeCode")
    ErasureRequest = apps.get_model("erasure", "ErasureRequest")
    codes = OneTimeCode.objects.filter(scope__startswith=SCOPE)
    known = {str(pk) for pk in ErasureRequest.objects.values_list("pk", flat=True)}

    def make(row):
        request_id = row.scope.removeprefix(SCOPE)
        if request_id not in known:
            return None  # no request to hang it on
        fields = {name: getattr(row, name) for name in FIELDS}
        return VerificationCode(request_id=request_id, **fields)

    _copy(codes, make, VerificationCode)
    codes.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("erasure", "0009_erasurerequest_act_permission"),
        ("identity", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(codes_to_identity, codes_to_erasure),
        migrations.DeleteModel(name="VerificationCode"),
    ]
