"""The `s3_objects` connector against a real S3-compatible store (SeaweedFS, `object_store`):
every format erased and masked, versioned buckets, a concurrent writer, object locks, and
uploads in parts. No database."""

import csv
import gzip
import io
import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import s3_store
from connectors.base import Capability
from connectors.errors import HeldByStore
from connectors.s3_objects import S3Objects
from core.errors import ApplicationError
from tests import identifiers

EMAIL = "a@example.org"
OTHER = "b@example.org"
identifiers.USED.update({EMAIL, OTHER})
A = {"email": [EMAIL]}


def jsonl(*emails: str) -> bytes:
    return b"".join(
        json.dumps({"user": {"email": e}, "q": n}).encode() + b"\n" for n, e in enumerate(emails)
    )


def csv_bytes(*emails: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name"])
    for n, email in enumerate(emails):
        writer.writerow([email, f"name-{n}"])
    return out.getvalue().encode()


def parquet_bytes(*emails: str) -> bytes:
    sink = io.BytesIO()
    table = pa.table({"email": list(emails), "n": list(range(len(emails)))})
    pq.write_table(table, sink)
    return sink.getvalue()


def text_bytes(*emails: str) -> bytes:
    return b"".join(f"login ok user={e} from app\n".encode() for e in emails)


def rows(data: bytes) -> list:
    return pq.read_table(io.BytesIO(data)).to_pylist()


# (format, op, extra config, content maker, key, what the rewritten object reads as)
CASES = [
    (
        "jsonl",
        "delete",
        {"match": {"email": "user.email"}},
        jsonl,
        "a/part-0.jsonl.gz",
        lambda data: jsonl(OTHER).replace(b'"q": 0', b'"q": 1'),
    ),
    (
        "csv",
        "delete",
        {"match": {"email": "email"}},
        csv_bytes,
        "a/users.csv",
        lambda data: b"email,name\nb@example.org,name-1\n",
    ),
    (
        "csv",
        "mask",
        {"match": {"email": "email"}, "mask_columns": ["email", "name"]},
        csv_bytes,
        "a/users.csv",
        lambda data: b"email,name\n[erased],[erased]\nb@example.org,name-1\n",
    ),
    (
        "parquet",
        "delete",
        {"match": {"email": "email"}},
        parquet_bytes,
        "a/set.parquet",
        lambda data: rows(data) == [{"email": OTHER, "n": 1}],
    ),
    (
        "parquet",
        "mask",
        {"match": {"email": "email"}},
        parquet_bytes,
        "a/set.parquet",
        lambda data: rows(data) == [{"email": "[erased]", "n": 0}, {"email": OTHER, "n": 1}],
    ),
    (
        "text",
        "delete",
        {"id_types": ["email"], "mode": "drop_line"},
        text_bytes,
        "a/app.log.gz",
        lambda data: text_bytes(OTHER),
    ),
    (
        "text",
        "mask",
        {"id_types": ["email"]},
        text_bytes,
        "a/app.log",
        lambda data: b"login ok user=[erased] from app\n" + text_bytes(OTHER),
    ),
]


def put(store, bucket, key, content: bytes):
    body = gzip.compress(content) if key.endswith(".gz") else content
    return store.s3.put_object(Bucket=bucket, Key=key, Body=body)


def get(store, bucket, key, version_id=None) -> bytes:
    data = store.read(bucket, key, version_id)
    return gzip.decompress(data) if key.endswith(".gz") else data


@pytest.mark.parametrize(("fmt", "op", "extra", "make", "key", "expected"), CASES)
def test_each_format_erases_and_masks_like_its_file_kind(
    object_store, fmt, op, extra, make, key, expected
):
    """The object is rewritten as the file kind rewrites a file; an object of nobody is left
    as it was (same ETag), and the post-check finds nothing."""
    bucket = object_store.bucket()
    put(object_store, bucket, key, make(EMAIL, OTHER))
    untouched = put(object_store, bucket, "a/other" + key[key.index(".") :], make(OTHER))
    put(object_store, bucket, "elsewhere/x" + key[key.index(".") :], make(EMAIL))
    target = S3Objects(config=object_store.config(bucket, prefix="a/", format=fmt, **extra))
    assert target.locate(A).count == 1

    erased = target.erase(A, op=op)

    assert (erased.op, erased.count, erased.method) == (op, 1, f"s3_{fmt}_conditional_rewrite")
    assert erased.before != erased.after
    data = get(object_store, bucket, key)
    want = expected(data)
    assert want is True or data == want
    other_key = "a/other" + key[key.index(".") :]
    assert object_store.s3.head_object(Bucket=bucket, Key=other_key)["ETag"] == untouched["ETag"]
    assert get(object_store, bucket, "elsewhere/x" + key[key.index(".") :]) == make(EMAIL)
    checked = target.verify(A)
    assert (checked.remaining, checked.history) == (0, None)  # no versions kept: no history
    assert target.erase(A, op=op).op == "none"  # a second pass finds nothing to change


def test_a_versioned_bucket_loses_every_version_holding_the_subject(object_store):
    """An older version held the subject too: it is deleted with the one the rewrite replaced,
    versions of others are kept, and the post-check reads every version left."""
    bucket = object_store.bucket(versioned=True)
    key = "evals/set.jsonl"
    first = put(object_store, bucket, key, jsonl(OTHER))
    second = put(object_store, bucket, key, jsonl(EMAIL, OTHER))
    put(object_store, bucket, key, jsonl(OTHER, EMAIL, OTHER))
    put(object_store, bucket, "evals/clean.jsonl", jsonl(OTHER))
    target = S3Objects(
        config=object_store.config(bucket, format="jsonl", match={"email": "user.email"})
    )
    assert target.locate(A).count == 2  # every version kept is looked at

    erased = target.erase(A)

    assert erased.count == 2  # one line in the current object, one in the older version
    versions = object_store.versions(bucket)
    ids = {v["VersionId"] for v in versions}
    assert first["VersionId"] in ids and second["VersionId"] not in ids
    for version in versions:
        assert EMAIL.encode() not in object_store.read(bucket, version["Key"], version["VersionId"])
    checked = target.verify(A)
    assert checked.remaining == 0
    assert (checked.history.policy, checked.history.versions_checked) == ("purged", len(versions))
    assert len(versions) == 3  # the first version, the rewrite, and the clean object


def test_kept_history_is_left_and_said_retained(object_store):
    bucket = object_store.bucket(versioned=True)
    key = "logs/app.log"
    old = put(object_store, bucket, key, text_bytes(EMAIL))
    put(object_store, bucket, key, text_bytes(EMAIL, OTHER))
    until = "2031-01-01T00:00:00Z"
    target = S3Objects(
        config=object_store.config(
            bucket,
            format="text",
            id_types=["email"],
            keep_history={"basis": "tax-record-retention", "versions": "retain", "until": until},
        )
    )
    assert target.erase(A, op="mask").count == 1
    assert object_store.read(bucket, key, old["VersionId"]) == text_bytes(EMAIL)  # kept
    checked = target.verify(A)
    assert checked.remaining == 0
    assert checked.history.policy == "retained"
    assert checked.history.versions_checked == 1
    assert checked.history.retained_until == datetime(2031, 1, 1, tzinfo=UTC)


def test_kept_history_is_rewritten_version_by_version_without_the_subject(object_store):
    """`keep_history` "rewrite": the object's history is written again in order, each version
    without the subject's items (the others copied as they were), the originals deleted; the
    post-check reads every version and finds none."""
    bucket = object_store.bucket(versioned=True)
    key = "evals/set.csv"
    history = [csv_bytes(OTHER), csv_bytes(EMAIL, OTHER), csv_bytes(OTHER, EMAIL, "c@example.org")]
    originals = {put(object_store, bucket, key, content)["VersionId"] for content in history}
    target = S3Objects(
        config=object_store.config(
            bucket,
            format="csv",
            match={"email": "email"},
            keep_history={"basis": "audit-trail-law", "versions": "rewrite"},
        )
    )
    erased = target.erase(A, op="mask")

    assert erased.count == 2
    versions = object_store.versions(bucket)  # newest first
    assert not originals & {v["VersionId"] for v in versions}
    assert [object_store.read(bucket, key, v["VersionId"]) for v in reversed(versions)] == [
        csv_bytes(OTHER),
        b"email,name\n[erased],name-0\nb@example.org,name-1\n",
        b"email,name\nb@example.org,name-0\n[erased],name-1\nc@example.org,name-2\n",
    ]
    checked = target.verify(A)
    assert checked.remaining == 0
    assert (checked.history.policy, checked.history.versions_checked) == ("purged", 3)


def test_a_history_rewrite_a_writer_interrupts_starts_again_from_the_new_history(
    object_store, monkeypatch
):
    """A writer puts a version between two steps of a history's rewrite: the next step is
    refused, the versions written so far are deleted, and the history, the writer's version
    now its latest, is written again."""
    bucket = object_store.bucket(versioned=True)
    key = "evals/set.jsonl"
    put(object_store, bucket, key, jsonl(EMAIL))
    put(object_store, bucket, key, jsonl(OTHER))
    publish = s3_store.Store.publish
    calls = []

    def racing(self, temp, ref):
        calls.append(ref.key)
        if len(calls) == 2:  # the other writer, between the first and the second step
            put(object_store, bucket, key, jsonl(OTHER, "c@example.org"))
        return publish(self, temp, ref)

    monkeypatch.setattr(s3_store.Store, "publish", racing)
    target = S3Objects(
        config=object_store.config(
            bucket,
            format="jsonl",
            match={"email": "user.email"},
            keep_history={"basis": "audit-trail-law", "versions": "rewrite"},
        )
    )
    assert target.erase(A).count == 1
    versions = object_store.versions(bucket)
    assert [object_store.read(bucket, key, v["VersionId"]) for v in reversed(versions)] == [
        b"",
        jsonl(OTHER),
        jsonl(OTHER, "c@example.org"),
    ]
    assert target.verify(A).history.versions_checked == 3


@pytest.mark.parametrize("in_parts", [False, True], ids=["put", "multipart"])
def test_a_concurrent_writers_object_is_not_overwritten(object_store, monkeypatch, in_parts):
    """Another writer replaces the object between the read and the replacement: the
    replacement (one PutObject, or a multipart upload's completion) is refused by the store
    (If-Match), the new object is read again, and its own new line survives while the
    subject's lines, old and new, are gone."""
    filler = [OTHER] * (110_000 if in_parts else 1)  # above 5 MiB: two parts
    monkeypatch.setattr(s3_store, "PART_BYTES", 5 << 20)
    bucket = object_store.bucket()
    key = "evals/set.jsonl"
    put(object_store, bucket, key, jsonl(EMAIL, *filler))
    publish = s3_store.Store.publish
    writes = []

    def racing(self, temp, ref):
        if not writes:  # the other writer, once, just before our first replacement
            writes.append(put(object_store, bucket, key, jsonl(EMAIL, *filler, "c@example.org")))
        return publish(self, temp, ref)

    monkeypatch.setattr(s3_store.Store, "publish", racing)
    target = S3Objects(
        config=object_store.config(bucket, format="jsonl", match={"email": "user.email"})
    )
    erased = target.erase(A)
    assert erased.count == 1
    data = object_store.read(bucket, key)
    assert EMAIL.encode() not in data and data.endswith(
        b'"c@example.org"}, "q": %d}\n' % (len(filler) + 1)
    )
    assert len(data.splitlines()) == len(filler) + 1
    etag = object_store.s3.head_object(Bucket=bucket, Key=key)["ETag"]
    assert etag.strip('"').endswith("-2") is in_parts


def test_a_locked_version_holds_the_erasure_before_anything_changes(object_store):
    bucket = object_store.bucket(locked=True)
    key = "evals/set.jsonl"
    until = datetime.now(UTC) + timedelta(days=2)
    object_store.s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=jsonl(EMAIL),
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )
    put(object_store, bucket, key, jsonl(OTHER, EMAIL))
    target = S3Objects(
        config=object_store.config(bucket, format="jsonl", match={"email": "user.email"})
    )
    with pytest.raises(HeldByStore) as held:
        target.erase(A)
    assert held.value.basis == "object-lock:compliance"
    assert abs(held.value.until - until) < timedelta(seconds=1)
    assert held.value.found == {None: 2}
    assert object_store.read(bucket, key) == jsonl(OTHER, EMAIL)  # nothing was changed


def test_a_large_rewrite_is_uploaded_in_parts(object_store, monkeypatch):
    monkeypatch.setattr(s3_store, "PART_BYTES", 5 << 20)
    bucket = object_store.bucket()
    key = "big.jsonl"
    emails = [OTHER] * 120_000 + [EMAIL]
    put(object_store, bucket, key, jsonl(*emails))
    target = S3Objects(
        config=object_store.config(bucket, format="jsonl", match={"email": "user.email"})
    )
    assert target.erase(A).count == 1
    head = object_store.s3.head_object(Bucket=bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-2")  # two parts
    assert object_store.read(bucket, key) == jsonl(*emails[:-1])


@pytest.mark.parametrize(("written", "rewritten"), [(1, 4), (6, 0), (9, 0)])
def test_a_gzip_object_is_rewritten_at_its_writers_fast_level_or_the_default(
    object_store, written, rewritten
):
    """As for a local file: XFL, the header byte the level sets, is 4 for the fastest. An
    object's stream cannot be read again from its start, so its header is kept as it is read
    (the rewrite only starts writing at the first line it drops, far past it)."""
    bucket = object_store.bucket()
    emails = [OTHER] * 2000 + [EMAIL]
    body = gzip.compress(jsonl(*emails), written)
    object_store.s3.put_object(Bucket=bucket, Key="chats.jsonl.gz", Body=body)
    target = S3Objects(
        config=object_store.config(bucket, format="jsonl", match={"email": "user.email"})
    )
    assert target.erase(A).count == 1
    data = object_store.read(bucket, "chats.jsonl.gz")
    assert data[8] == rewritten
    assert gzip.decompress(data) == jsonl(*emails[:-1])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"format": "jsonl", "delimiter": ";"}, "delimiter"),
        ({"format": "parquet", "gzip": True}, "gzip"),
        ({"format": "jsonl", "secret_access_key_env": None}, "secret_access_key_env"),
        ({"format": "jsonl", "password": "x"}, "password"),
        ({"format": "csv", "bucket": "a b"}, "bucket"),
        (
            {"format": "csv", "keep_history": {"basis": "x", "versions": "retain"}},
            "keep_history.until",
        ),
        (
            {
                "format": "csv",
                "keep_history": {"basis": "x", "versions": "retain", "until": "2031"},
            },
            "keep_history.until",
        ),
    ],
)
def test_a_config_is_checked_like_the_other_kinds(object_store, change, field):
    config = {**object_store.config("b1", match={"email": "email"}), **change}
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(ApplicationError) as refused:
        S3Objects(config=config)
    assert field in refused.value.fields


def test_an_instance_has_its_formats_abilities(object_store):
    jsonl_target = S3Objects(config=object_store.config("b1", format="jsonl", match={"e": "e"}))
    assert not jsonl_target.supports(Capability.MASK)
    assert S3Objects(config=object_store.config("b1", format="csv", match={"e": "e"})).supports(
        Capability.MASK
    )


def test_credentials_come_from_a_mounted_file_or_named_variables(
    object_store, tmp_path, settings, monkeypatch
):
    """A credentials file under the secret roots (its profile named), or variables that must
    be set: the config names where the secret is, never the secret."""
    from tests.objectstore import KEY_ID, SECRET

    settings.LUP_SECRET_FILE_ROOTS = [str(tmp_path)]
    secrets = tmp_path / "s3-credentials"
    secrets.write_text(f"[evals]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n")
    bucket = object_store.bucket()
    put(object_store, bucket, "set.jsonl", jsonl(EMAIL))
    config = {
        "endpoint_url": object_store.endpoint,
        "bucket": bucket,
        "format": "jsonl",
        "match": {"email": "user.email"},
    }
    from_file = S3Objects(config={**config, "credentials_file": str(secrets), "profile": "evals"})
    assert from_file.locate(A).count == 1

    with pytest.raises(ApplicationError) as outside:
        S3Objects(config={**config, "credentials_file": "/etc/passwd"})
    assert outside.value.code == "path_outside_roots"

    monkeypatch.delenv("S3_TEST_SECRET")
    unset = S3Objects(config=object_store.config(bucket, format="jsonl", match={"e": "e"}))
    with pytest.raises(ApplicationError) as missing:
        unset.locate({"e": ["x"]})
    assert missing.value.fields == {"secret_access_key_env": "not set"}


def test_a_legal_hold_on_an_older_version_holds_the_erasure_without_end(object_store):
    """A legal hold has no date: the exception says so with the latest time there is."""
    bucket = object_store.bucket(locked=True)
    key = "logs/app.log"
    older = put(object_store, bucket, key, text_bytes(EMAIL))
    object_store.s3.put_object_legal_hold(
        Bucket=bucket, Key=key, VersionId=older["VersionId"], LegalHold={"Status": "ON"}
    )
    put(object_store, bucket, key, text_bytes(OTHER))
    target = S3Objects(config=object_store.config(bucket, format="text", id_types=["email"]))
    with pytest.raises(HeldByStore) as held:
        target.erase(A, op="mask")
    assert (held.value.basis, held.value.until.year) == ("object-lock:legal-hold", 9999)
    assert len(object_store.versions(bucket)) == 2  # nothing was changed


def test_registration_reads_the_first_object_as_its_format_does(object_store):
    """A CSV header without the match column is found when the target is checked."""
    bucket = object_store.bucket()
    put(object_store, bucket, "a/users.csv", csv_bytes(OTHER))
    good = S3Objects(config=object_store.config(bucket, format="csv", match={"email": "email"}))
    good.check()
    bad = S3Objects(config=object_store.config(bucket, format="csv", match={"email": "mail"}))
    with pytest.raises(ApplicationError) as refused:
        bad.check()
    assert (refused.value.code, refused.value.fields) == (
        "target_unreachable",
        {"match.email": "not in the header"},
    )
    missing = S3Objects(
        config=object_store.config("no-such-bucket", format="csv", match={"e": "e"})
    )
    with pytest.raises(ApplicationError) as unreachable:
        missing.check()
    assert unreachable.value.fields == {"bucket": "not found"}


def test_a_client_is_kept_until_its_credentials_change(object_store, monkeypatch):
    config = object_store.config(object_store.bucket(), format="jsonl", match={"email": "e"})
    first = s3_store.client(config, 30)
    assert s3_store.client(config, 30) is first  # one per process, not one per shard
    assert s3_store.client(config, 10) is not first
    monkeypatch.setenv(s3_store.AWS_ENV[0], "rotated")  # boto3's own chain: another client
    assert s3_store.client(config, 30) is not first
    monkeypatch.delenv(s3_store.AWS_ENV[0])
    monkeypatch.setenv(config["secret_access_key_env"], "rotated-secret")
    rotated = s3_store.client(config, 30)
    assert rotated is not first
    with pytest.raises(ApplicationError):  # the new secret is used, and refused
        s3_store.Store(rotated, config["bucket"]).versioning()
