"""Bulk import of consent events from JSON lines or CSV, read as a stream.

Every line is validated before anything is written; one bad line rejects the call, and the
report says which lines failed and why (by field and code, never by value).
"""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings

from consent import clock
from consent.inputs import EventInput, InvalidEvent, event_input
from consent.services import (
    EventsRejected,
    LineError,
    RecordResult,
    consent_events_record,
    consent_references_check,
)
from core.errors import ApplicationError, PayloadTooLarge

JSONL_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/json-lines"})
CSV_TYPES = frozenset({"text/csv"})
CSV_COLUMNS = (
    "id_type",
    "identifier",
    "subject_key",
    "purpose",
    "status",
    "legal_basis",
    "jurisdiction",
    "notice_key",
    "notice_version",
    "notice_language",
    "method",
    "event_time",
    "expires_at",
    "data_categories",
)


@dataclass
class ParsedImport:
    events: list[EventInput]
    lines: list[int]
    errors: list[LineError]


def read_lines(
    stream: IO[bytes], *, max_lines: int, max_line_bytes: int
) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, bytes) for each non-blank line; None for a line over the limit."""
    number = 0
    while True:
        raw = stream.readline(max_line_bytes + 1)
        if not raw:
            return
        number += 1
        if number > max_lines:
            raise PayloadTooLarge(f"At most {max_lines} lines are accepted in one call.")
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the long line
                raw = stream.readline(max_line_bytes + 1)
            yield number, None
            continue
        if raw.strip():
            yield number, raw


def _jsonl_records(lines: Iterator[tuple[int, bytes | None]]) -> Iterator[tuple[int, Any]]:
    for number, raw in lines:
        if raw is None:
            yield number, LineError(number, "line", "line_too_long")
            continue
        try:
            yield number, json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting is bad input
            yield number, LineError(number, "line", "invalid_json")


def _csv_row_to_event(row: dict[str, str]) -> dict[str, Any]:
    subject: dict[str, str] = (
        {"key": row["subject_key"]}
        if row.get("subject_key")
        else {"id_type": row.get("id_type") or "", "value": row.get("identifier") or ""}
    )
    notice = None
    if row.get("notice_key"):
        notice = {
            "key": row["notice_key"],
            "version": row.get("notice_version") or "",
            "language": row.get("notice_language") or "",
        }
    categories = [c for c in (row.get("data_categories") or "").split(";") if c]
    return {
        "subject": subject,
        "purpose": row.get("purpose") or "",
        "status": row.get("status") or "",
        "legal_basis": row.get("legal_basis") or "",
        "jurisdiction": row.get("jurisdiction") or "",
        "notice": notice,
        "method": row.get("method") or None,
        "event_time": row.get("event_time") or None,
        "expires_at": row.get("expires_at") or None,
        "data_categories": categories,
    }


def _csv_records(lines: Iterator[tuple[int, bytes | None]]) -> Iterator[tuple[int, Any]]:
    numbers: list[int] = []
    too_long: list[int] = []

    def text_lines() -> Iterator[str]:
        for number, raw in lines:
            if raw is None:
                too_long.append(number)
                continue
            numbers.append(number)
            yield raw.decode("utf-8", errors="replace")

    reader = csv.DictReader(text_lines(), strict=True)
    try:
        header = reader.fieldnames or []
    except csv.Error:
        header = []
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if not header or unknown:
        raise ApplicationError(
            "The CSV header must name columns from: " + ", ".join(CSV_COLUMNS),
            code="invalid_csv_header",
        )
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            yield numbers[-1], LineError(numbers[-1], "line", "invalid_csv")
            continue
        number = numbers[-1] if numbers else 0
        while too_long:
            bad = too_long.pop(0)
            yield bad, LineError(bad, "line", "line_too_long")
        if None in row or any(value is None for value in row.values()):
            yield number, LineError(number, "line", "invalid_csv")
            continue
        yield number, _csv_row_to_event(row)
    for bad in too_long:
        yield bad, LineError(bad, "line", "line_too_long")


def parse_import(stream: IO[bytes], *, content_type: str) -> ParsedImport:
    if content_type in JSONL_TYPES:
        records_of = _jsonl_records
    elif content_type in CSV_TYPES:
        records_of = _csv_records
    else:
        raise ApplicationError(
            "Send JSON lines (application/x-ndjson) or CSV (text/csv).",
            code="unsupported_media_type",
        )
    lines = read_lines(
        stream,
        max_lines=settings.LUP_CONSENT_IMPORT_MAX_LINES,
        max_line_bytes=settings.LUP_MAX_LINE_BYTES,
    )
    now = clock.now()
    parsed = ParsedImport(events=[], lines=[], errors=[])
    for number, record in records_of(lines):
        if isinstance(record, LineError):
            parsed.errors.append(record)
            continue
        try:
            parsed.events.append(event_input(record, now=now, default_method="import"))
            parsed.lines.append(number)
        except InvalidEvent as exc:
            parsed.errors.append(LineError(number, exc.field, exc.code))
    return parsed


def consent_import(*, stream: IO[bytes] | io.BytesIO, content_type: str) -> RecordResult:
    parsed = parse_import(stream, content_type=content_type)
    if parsed.errors:
        # Report the lines that parsed but name nothing known too, so one round trip shows
        # every problem.
        refs = consent_references_check(events=parsed.events, lines=parsed.lines)
        raise EventsRejected(parsed.errors + refs.errors)
    if not parsed.events:
        raise ApplicationError("The import holds no events.", code="empty_import")
    return consent_events_record(events=parsed.events, lines=parsed.lines)
