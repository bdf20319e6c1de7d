"""The subject membership index: which subjects (by key) each dataset version holds.

Uploads are streamed: each line is read, checked and hashed, and goes straight into a
PostgreSQL COPY, so millions of subjects never sit in memory. One transaction holds the whole
upload; one bad line rolls it back, and the report names lines and codes, never values.

A target's scan (the `targets` app's subject index) replaces a version's membership instead of
adding to it (`membership_replace`): the keys are staged as they are read, in batches that are
each committed, so a scan of any size holds one batch in memory and no lock while it reads; the
swap that follows, one transaction, leaves a version either its old members or its new ones.

The index answers the erasure planner's question (where is this subject, and what came of
it) and the purpose check (how many of a version's subjects may be used for a purpose). The
consent registry is reached through `settings.LUP_CONSENT_FILTER`: the import rules keep
lineage from depending on that app directly.
"""

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils.module_loading import import_string

from core.errors import ApplicationError, PayloadTooLarge
from core.subject_keys import ID_TYPE, InvalidIdentifier, key_for, validate_subject_key
from lineage.models import (
    DatasetVersion,
    Membership,
    MembershipStage,
    ModelData,
    ModelVersion,
    StorageLocation,
)
from lineage.selectors import version_descendants

KEY = "key"  # the id_type of lines that are subject keys already
TEXT_TYPES = frozenset({"text/plain"})
CSV_TYPES = frozenset({"text/csv"})
JSONL_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/json-lines"})
CSV_HEADERS = {"subject_key": True, "identifier": False}  # header -> names keys?
# Keys buffered between writes to COPY (or bulk_create on SQLite): about 650 kB of text.
WRITE_BATCH = 10_000
# Keys handed to the consent filter at once; it decides each batch in one query.
PURPOSE_BATCH = 100_000
DERIVED_NOTE = "derived — membership not declared"
UPLOADED = "membership uploaded"  # a version's `membership_source` after an upload

# The upload lands in a temporary table first, so duplicates (within the upload and against
# earlier uploads) collapse in one set-based INSERT instead of a conflict check per row. Rows
# go in key order, the unique index's order: a million random keys insert about a third faster.
_TEMP_TABLE = "lineage_membership_upload"
_CREATE_TEMP_SQL = f"CREATE TEMP TABLE {_TEMP_TABLE} (subject_key text NOT NULL) ON COMMIT DROP"
_COPY_SQL = f"COPY {_TEMP_TABLE} (subject_key) FROM STDIN"
# Set-wise merge into the index: duplicates within the upload collapse in the sort, keys the
# version already holds are left out by an anti-join, and rows go in key order (the unique
# index's). No ON CONFLICT: its per-row speculative insertion costs three times the insert.
# Uploads to one version are serialized by a lock on its row, so no other writer can add a
# key between the anti-join and the insert.
_INSERT_SQL = f"""
INSERT INTO lineage_membership (version_id, subject_key)
SELECT DISTINCT %(version)s::uuid, u.subject_key FROM {_TEMP_TABLE} u
WHERE NOT EXISTS (
    SELECT 1 FROM lineage_membership m
    WHERE m.subject_key = u.subject_key AND m.version_id = %(version)s::uuid
)
ORDER BY 2
"""  # noqa: S608 (a constant table name, no input)
# A version's first upload (the common case) needs no anti-join.
_INSERT_NEW_SQL = f"""
INSERT INTO lineage_membership (version_id, subject_key)
SELECT DISTINCT %(version)s::uuid, subject_key FROM {_TEMP_TABLE} ORDER BY 2
"""  # noqa: S608 (a constant table name, no input)
# Dropped explicitly as well: ON COMMIT DROP alone leaves it in place when the caller's
# transaction is still open (a second upload in one transaction would find it there).
_DROP_TEMP_SQL = f"DROP TABLE {_TEMP_TABLE}"


class MembershipRejected(ApplicationError):
    """Some lines were invalid, so nothing was recorded. The report names lines, never values."""

    code = "membership_rejected"
    max_reported = 100

    def __init__(self, errors: list[tuple[int, str]], *, error_count: int):
        super().__init__(
            f"{error_count} line(s) are invalid; no membership was recorded.",
            fields={
                "error_count": error_count,
                "lines": [{"line": line, "code": code} for line, code in errors],
            },
        )


class _BadLine(Exception):
    def __init__(self, code: str):
        self.code = code


# --- reading --------------------------------------------------------------------------------


def _read_lines(
    stream: IO[bytes], *, max_lines: int, max_line_bytes: int, start: int = 0
) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each non-blank line after the first `start`; None in place of
    a line over the limit.

    `readline` is given a bound, so a body without newlines cannot fill memory."""
    number = start
    while raw := stream.readline(max_line_bytes + 1):
        number += 1
        if number > max_lines:
            raise PayloadTooLarge(f"At most {max_lines} lines are accepted in one upload.")
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the long line
                raw = stream.readline(max_line_bytes + 1)
            yield number, None
        elif not raw.isspace():
            yield number, raw


def _key(value: Any, *, is_key: bool, id_type: str) -> str:
    return validate_subject_key(value) if is_key else key_for(id_type, value)


def _csv_value(text: str) -> str:
    # Only quoted or comma-holding lines need the csv module; the rest are the value itself.
    if '"' not in text and "," not in text:
        return text
    try:
        row = next(csv.reader([text], strict=True))
    except csv.Error:
        raise _BadLine("invalid_csv") from None
    if len(row) != 1:
        raise _BadLine("invalid_csv")
    return row[0]


def _json_key(text: str, *, id_type: str) -> str:
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: deep nesting ("[[[[…") in one line
        raise _BadLine("invalid_json") from None
    if not isinstance(record, dict):
        raise _BadLine("invalid_record")
    if "subject_key" in record:
        return validate_subject_key(record["subject_key"])
    if id_type == KEY:
        raise _BadLine("missing_subject_key")
    if "identifier" not in record:
        raise _BadLine("missing_identifier")
    return key_for(id_type, record["identifier"])


def _max_lines() -> int:
    return getattr(settings, "LUP_MEMBERSHIP_MAX_LINES", 50_000_000)


def _line_keys(
    stream: IO[bytes], *, media_type: str, id_type: str, start: int = 0
) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, subject key, None) for each good line, (line number, None, code) for a
    bad one; lines numbered after the first `start`, read already."""
    is_key = id_type == KEY
    first = start == 0
    for number, raw in _read_lines(
        stream,
        max_lines=_max_lines(),
        max_line_bytes=settings.LUP_MAX_LINE_BYTES,
        start=start,
    ):
        if raw is None:
            yield number, None, "line_too_long"
            continue
        try:
            text = raw.decode("utf-8").strip()
            if first:
                text = text.removeprefix("\ufeff")  # the byte order mark spreadsheets write
            if media_type in JSONL_TYPES:
                key = _json_key(text, id_type=id_type)
            elif media_type in CSV_TYPES:
                if first and text in CSV_HEADERS:
                    first = False
                    if CSV_HEADERS[text] != is_key:
                        raise _BadLine("csv_header_mismatch")
                    continue
                key = _key(_csv_value(text).strip(), is_key=is_key, id_type=id_type)
            else:
                key = _key(text, is_key=is_key, id_type=id_type)
        except UnicodeDecodeError:
            yield number, None, "invalid_utf8"
        except (InvalidIdentifier, _BadLine) as exc:
            yield number, None, exc.code
        else:
            yield number, key, None
        first = False


# Subject keys sent as plain text, one a line, are what pipelines upload in bulk: whole blocks
# of well-formed lines go to COPY as they are, with no per-line Python.
_KEY_LINE_BYTES = 65  # 64 lower-case hex digits and a newline
_KEY_BYTES = b"0123456789abcdef\n"
BLOCK_BYTES = 1 << 20


class _Rest:
    """A stream that reads `head` and then the rest of `stream`: where the line-by-line path
    takes over from the block path, mid-stream."""

    def __init__(self, head: bytes, stream: IO[bytes]):
        self.head = io.BytesIO(head)
        self.stream = stream

    def readline(self, limit: int = -1) -> bytes:
        line = self.head.readline(limit)
        if line.endswith(b"\n") or (limit >= 0 and len(line) >= limit):
            return line
        more = self.stream.readline(limit - len(line) if limit >= 0 else -1)
        return line + more


def _keys_only(block: bytes, lines: int) -> bool:
    """Whether `block` is `lines` subject keys, each on its line: the size is right, the
    newlines are where they belong and nowhere else, and every other byte is a hex digit
    (checked by C loops over the block rather than a pattern)."""
    return (
        len(block) == lines * _KEY_LINE_BYTES
        and block.count(b"\n") == lines
        and block[_KEY_LINE_BYTES - 1 :: _KEY_LINE_BYTES] == b"\n" * lines
        and not block.translate(None, _KEY_BYTES)
    )


def _key_blocks(stream: IO[bytes], write: Callable[[bytes], None]) -> tuple[int, IO[bytes]]:
    """Write whole blocks of well-formed key lines with `write` until a block holds anything
    else (a bad line, a blank line, a CR, a byte order mark) or the stream ends. Returns the
    lines written and the stream of what is left, for the line-by-line path, which names any
    bad line by its number."""
    written, carry, limit = 0, b"", _max_lines()
    while chunk := stream.read(BLOCK_BYTES):
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        block, carry = data[:cut], data[cut:]
        lines = len(block) // _KEY_LINE_BYTES
        if not block or written + lines > limit or not _keys_only(block, lines):
            return written, _Rest(data, stream)
        write(block)
        written += lines
    return written, io.BytesIO(carry)


def _media_type(content_type: str) -> str:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in TEXT_TYPES | CSV_TYPES | JSONL_TYPES:
        raise ApplicationError(
            "Send one subject a line: text/plain, text/csv or application/x-ndjson.",
            code="unsupported_media_type",
        )
    return media_type


# --- writing --------------------------------------------------------------------------------


def _write_all(
    parsed: Iterable[tuple[int, str | None, str | None]], write: Callable[[list[str]], None]
) -> tuple[int, list[tuple[int, str]], int]:
    """Hand good keys to `write` in batches until the first bad line, then only read on to
    report the rest. Returns (keys received, first errors, error count)."""
    received = 0
    errors: list[tuple[int, str]] = []
    error_count = 0
    batch: list[str] = []
    for number, key, code in parsed:
        if code is not None:
            error_count += 1
            if len(errors) < MembershipRejected.max_reported:
                errors.append((number, code))
            continue
        if error_count:
            continue  # the upload is refused already: nothing more is worth writing
        received += 1
        batch.append(key)  # type: ignore[arg-type]
        if len(batch) >= WRITE_BATCH:
            write(batch)
            batch = []
    if batch and not error_count:
        write(batch)
    return received, errors, error_count


def _check_written(received: int, errors: list[tuple[int, str]], error_count: int) -> None:
    if error_count:
        raise MembershipRejected(errors, error_count=error_count)
    if not received:
        # Refused rather than read as "this version holds nobody": that claim would drop the
        # version from erasure plans, so it has to be made with at least one subject.
        raise ApplicationError("The upload holds no subjects.", code="empty_membership")


def _copy_members(*, version_id: Any, stream: IO[bytes], media_type: str, id_type: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_TEMP_SQL)
        # COPY bypasses Django's cursor wrapper, so its errors are translated here.
        with connection.wrap_database_errors, cursor.copy(_COPY_SQL) as copy:
            fast = 0
            if media_type in TEXT_TYPES and id_type == KEY:
                fast, stream = _key_blocks(stream, copy.write)
            parsed = _line_keys(stream, media_type=media_type, id_type=id_type, start=fast)
            # Keys are 64 hex digits (checked above), so COPY's text format needs no escaping.
            received, errors, error_count = _write_all(
                parsed, lambda batch: copy.write("\n".join(batch) + "\n")
            )
        _check_written(received + fast, errors, error_count)
        first = not Membership.objects.filter(version_id=version_id).exists()
        cursor.execute(_INSERT_NEW_SQL if first else _INSERT_SQL, {"version": version_id})
        cursor.execute(_DROP_TEMP_SQL)


def _create_members(*, version_id: Any, stream: IO[bytes], media_type: str, id_type: str) -> None:
    parsed = _line_keys(stream, media_type=media_type, id_type=id_type)

    def write(batch: list[str]) -> None:
        Membership.objects.bulk_create(
            [Membership(version_id=version_id, subject_key=k) for k in dict.fromkeys(batch)],
            ignore_conflicts=True,
        )

    _check_written(*_write_all(parsed, write))


def membership_upload(
    *, version: DatasetVersion, stream: IO[bytes], content_type: str, id_type: str
) -> int:
    """Record the subjects a version holds, read from `stream` one a line; returns how many
    distinct subjects the version now has.

    Lines are identifiers of `id_type` (hashed on arrival, never stored) or, with
    `id_type="key"`, subject keys. Uploads add to earlier ones, so a large version can be sent
    in parts. All or nothing: one bad line and nothing is recorded.
    """
    if id_type != KEY and not ID_TYPE.match(id_type or ""):
        raise ApplicationError(
            "id_type is `key` or an identifier type such as email or phone.",
            code="invalid_id_type",
        )
    media_type = _media_type(content_type)
    with transaction.atomic():
        # One upload to a version at a time (see _INSERT_SQL); other versions are not held up.
        DatasetVersion.objects.select_for_update().filter(pk=version.pk).exists()
        if connection.vendor == "postgresql":
            _copy_members(
                version_id=version.pk, stream=stream, media_type=media_type, id_type=id_type
            )
        else:
            _create_members(
                version_id=version.pk, stream=stream, media_type=media_type, id_type=id_type
            )
        # Versions are immutable; whether their membership is known is the one exception.
        DatasetVersion.objects.filter(pk=version.pk).update(
            membership_declared=True, membership_source=UPLOADED
        )
        count = Membership.objects.filter(version_id=version.pk).count()
    version.membership_declared = True
    version.membership_source = UPLOADED
    return count


# --- replacing a version's membership with what a scan found --------------------------------

_STAGE_COPY_SQL = "COPY lineage_membershipstage (stage, subject_key) FROM STDIN"
# Set-wise, like an upload's merge: members the scan did not find go, those it found that the
# version lacks come in, and the members both have stay untouched (a re-index of data that
# barely changed writes little). The versions' rows are locked, so no upload interleaves.
_REPLACE_DELETE_SQL = """
DELETE FROM lineage_membership
WHERE version_id = %(version)s AND NOT EXISTS (
    SELECT 1 FROM lineage_membershipstage s
    WHERE s.stage = %(stage)s AND s.subject_key = lineage_membership.subject_key
)
"""
_REPLACE_INSERT_SQL = """
INSERT INTO lineage_membership (version_id, subject_key)
SELECT DISTINCT %(version)s, s.subject_key FROM lineage_membershipstage s
WHERE s.stage = %(stage)s AND NOT EXISTS (
    SELECT 1 FROM lineage_membership m
    WHERE m.version_id = %(version)s AND m.subject_key = s.subject_key
)
"""
_STAGE_DELETE_SQL = "DELETE FROM lineage_membershipstage WHERE stage = %(stage)s"


def _stage_write(stage: uuid.UUID, keys: list[str]) -> None:
    if connection.vendor == "postgresql":
        # COPY bypasses Django's cursor wrapper, so its errors are translated here.
        with (
            connection.cursor() as cursor,
            connection.wrap_database_errors,
            cursor.copy(_STAGE_COPY_SQL) as copy,
        ):
            # Keys are 64 hex digits (checked), so COPY's text format needs no escaping.
            prefix = f"{stage}\t"
            copy.write("".join(f"{prefix}{key}\n" for key in keys))
        return
    MembershipStage.objects.bulk_create(
        [MembershipStage(stage=stage, subject_key=key) for key in keys]
    )


def membership_stage_discard(*, stage: uuid.UUID) -> None:
    """Drop what a scan staged and never swapped in (it failed, or its worker died)."""
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_DELETE_SQL, {"stage": _prep_uuid(stage)})


def _prep_uuid(value: uuid.UUID) -> Any:
    return MembershipStage._meta.get_field("stage").get_db_prep_value(value, connection)


def membership_replace(
    *,
    versions: Sequence[DatasetVersion],
    keys: Iterable[str],
    stage: uuid.UUID,
    source: str,
    progress: Callable[[int], None] | None = None,
    confirm: Callable[[], None] | None = None,
) -> int:
    """Make `keys` (subject keys, duplicates allowed) the whole membership of each of
    `versions`; returns how many distinct subjects that is. `source` says where they come
    from (each version's `membership_source`, quoted in plans).

    `keys` is consumed lazily (a scan in progress) and staged under `stage` a batch at a time;
    `progress` is told the keys staged so far after each batch. Called outside a transaction,
    each batch commits on its own and the caller's progress writes are seen at once. The swap
    is one transaction: readers see each version's old members or its new ones. Nothing
    staged (no subject found) is refused as `empty_membership` and changes nothing, as for an
    upload: "holds nobody" drops a version from every plan, and is more often a `match` that
    names the wrong field than a fact. `confirm`, called in the swap's transaction once the
    versions are locked, may refuse the swap by raising (a build superseded meanwhile). On any
    failure what was staged is discarded."""
    if not versions:
        raise ApplicationError("No dataset version to index.", code="no_versions")
    staged = 0
    try:
        batch: dict[str, None] = {}
        for key in keys:
            if key in batch:
                continue  # a subject on many records: checked and staged once a batch
            batch[validate_subject_key(key)] = None
            if len(batch) >= WRITE_BATCH:
                _stage_write(stage, list(batch))
                staged += len(batch)
                batch = {}
                if progress is not None:
                    progress(staged)
        if batch:
            _stage_write(stage, list(batch))
            staged += len(batch)
            if progress is not None:
                progress(staged)
        if not staged:
            raise ApplicationError("The scan found no subject.", code="empty_membership")
        return _swap(versions=versions, stage=stage, source=source, confirm=confirm)
    except BaseException:
        membership_stage_discard(stage=stage)
        raise


@transaction.atomic
def _swap(
    *,
    versions: Sequence[DatasetVersion],
    stage: uuid.UUID,
    source: str,
    confirm: Callable[[], None] | None,
) -> int:
    ids = sorted(version.pk for version in versions)  # one lock order: no deadlock
    list(DatasetVersion.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    if confirm is not None:
        confirm()
    field = DatasetVersion._meta.pk
    staged = _prep_uuid(stage)
    with connection.cursor() as cursor:
        for pk in ids:
            params = {"version": field.get_db_prep_value(pk, connection), "stage": staged}
            cursor.execute(_REPLACE_DELETE_SQL, params)
            cursor.execute(_REPLACE_INSERT_SQL, params)
        cursor.execute(_STAGE_DELETE_SQL, {"stage": staged})
    # Versions are immutable; whether their membership is known is the one exception.
    DatasetVersion.objects.filter(pk__in=ids).update(
        membership_declared=True, membership_source=source
    )
    for version in versions:
        version.membership_declared = True
        version.membership_source = source
    return Membership.objects.filter(version_id=ids[0]).count()


# --- reading the index ----------------------------------------------------------------------

# Model versions fine-tuned from the seeds, any number of steps. Each row is one model version
# with its one parent, so UNION visits each once and a cycle ends.
_FINE_TUNES_SQL = """
WITH RECURSIVE tuned(id, parent_id) AS (
    SELECT id, fine_tuned_from_id FROM lineage_modelversion WHERE fine_tuned_from_id IN ({seeds})
    UNION
    SELECT m.id, m.fine_tuned_from_id
    FROM tuned t JOIN lineage_modelversion m ON m.fine_tuned_from_id = t.id
)
SELECT id, parent_id FROM tuned
"""


def _fine_tunes(model_version_ids: set) -> dict:
    """{fine-tuned model version id: the version it was tuned from}, transitively."""
    if not model_version_ids:
        return {}
    field = ModelVersion._meta.pk
    seeds = [field.get_db_prep_value(pk, connection) for pk in model_version_ids]
    sql = _FINE_TUNES_SQL.format(seeds=", ".join(["%s"] * len(seeds)))
    with connection.cursor() as cursor:
        cursor.execute(sql, seeds)
        return {field.to_python(pk): field.to_python(parent) for pk, parent in cursor.fetchall()}


def subject_locations(*, keys: list[str]) -> dict[str, Any]:
    """Where a subject (named by one or more of its keys) is, and what came of it.

    `versions`: the dataset versions holding the subject (`member`) and those derived from
    them through runs (`derived`). A derived version whose membership was declared without
    the subject is left out: its membership is known and the subject is not in it.
    `models`: model versions trained, fine-tuned or evaluated on any of those versions, and
    the ones fine-tuned from those (`fine_tuned_from`), at any depth.

    A constant number of queries, however many versions and models are reached.
    """
    wanted = sorted({validate_subject_key(key) for key in keys})
    if not wanted:
        return {"versions": [], "models": []}
    members = set(
        Membership.objects.filter(subject_key__in=wanted)
        .values_list("version_id", flat=True)
        .distinct()
    )
    if not members:  # in no version, so derived from none: most subjects of most requests
        return {"versions": [], "models": []}
    reached = version_descendants(version_ids=list(members))
    versions = [
        version
        for version in DatasetVersion.objects.filter(pk__in=reached).select_related("dataset")
        if version.pk in members or not version.membership_declared
    ]
    kept = [version.pk for version in versions]

    locations: dict[Any, list[dict[str, str]]] = {pk: [] for pk in kept}
    for version_id, system, uri, country in (
        StorageLocation.objects.filter(version_id__in=kept)
        .order_by("uri")
        .values_list("version_id", "system", "uri", "country")
    ):
        locations[version_id].append({"system": system, "uri": uri, "country": country})

    models = [
        {
            "model_version_id": data.model_version_id,
            "model": str(data.model_version.model),
            "version": data.model_version.version,
            "kind": data.kind,
            "dataset_version_id": data.version_id,
            "fine_tuned_from_id": None,
        }
        for data in ModelData.objects.filter(version_id__in=kept).select_related(
            "model_version__model"
        )
    ]
    tuned = _fine_tunes({entry["model_version_id"] for entry in models})
    models += [
        {
            "model_version_id": model_version.pk,
            "model": str(model_version.model),
            "version": model_version.version,
            "kind": "fine_tuned_from",
            "dataset_version_id": None,
            "fine_tuned_from_id": tuned[model_version.pk],
        }
        for model_version in ModelVersion.objects.filter(pk__in=list(tuned)).select_related("model")
    ]

    return {
        "versions": sorted(
            (
                {
                    "version_id": version.pk,
                    "dataset": str(version.dataset),
                    "version": version.version,
                    "relation": "member" if version.pk in members else "derived",
                    "membership_declared": version.membership_declared,
                    "note": None if version.pk in members else DERIVED_NOTE,
                    "locations": locations[version.pk],
                }
                for version in versions
            ),
            key=lambda v: (v["relation"] != "member", v["dataset"], v["version"]),
        ),
        "models": sorted(
            models,
            key=lambda m: (m["model"], m["version"], m["kind"], str(m["dataset_version_id"])),
        ),
    }


def _batches(items: Iterator[str], size: int) -> Iterator[list[str]]:
    while batch := list(islice(items, size)):
        yield batch


def purpose_check(*, version: DatasetVersion, purpose: str) -> dict[str, Any]:
    """How many of the version's subjects may be used for `purpose` now, by the consent
    registry's filter. Subjects it has never heard of count as not allowed."""
    consent_filter = import_string(settings.LUP_CONSENT_FILTER)
    # An empty call still checks the purpose, so an unknown one is refused even for a version
    # without members.
    for _ in consent_filter(keys=[], purpose_key=purpose):
        pass
    members = allowed = 0
    # A server-side cursor: the keys arrive a batch at a time, never all at once.
    keys = (
        Membership.objects.filter(version_id=version.pk)
        .values_list("subject_key", flat=True)
        .iterator(chunk_size=PURPOSE_BATCH)
    )
    for batch in _batches(keys, PURPOSE_BATCH):
        members += len(batch)
        allowed += sum(
            1 for _, decision in consent_filter(keys=batch, purpose_key=purpose) if decision.allowed
        )
    return {
        "version_id": version.pk,
        "purpose": purpose,
        "members": members,
        "allowed": allowed,
        "not_allowed": members - allowed,
    }
