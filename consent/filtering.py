"""The filter a training job calls: a list of subjects in, the ones allowed for a purpose out.

Input is validated whole before the first line of output, so a bad line still gets a 4xx; the
lines wait in a spooled temporary file (memory, then disk), not in a Python list, so millions
of them fit. Output keeps input order and the caller's own spelling of each identifier.

With `decisions=True` the answer is one line for each line sent, in order, and never an
identifier: `allowed`, or why not (`withdrawn`, `refused`, `expired`, `no_consent`, or the code
of an identifier that is not one, such as `invalid_email`). A client lines it up with its own
rows, so it can keep them whole and count why the others were dropped.
"""

import tempfile
from collections.abc import Iterator
from typing import IO

from django.conf import settings

from consent.imports import read_lines
from consent.selectors import FILTER_BATCH, consent_filter_keys, validate_purpose
from consent.services import EventsRejected, LineError
from core import subject_keys as keys
from core.errors import ApplicationError

KEY = "key"
SPOOL_MEMORY = 16 * 1024 * 1024


class FilterRejected(EventsRejected):
    code = "filter_rejected"


ALLOWED = b"allowed"
INVALID = b"!"  # marks a spooled line whose identifier is not one (decisions only)


def filter_prepare(
    *, stream: IO[bytes], id_type: str, purpose_key: str, decisions: bool = False
) -> IO[bytes]:
    """Validate and hash every line; return a spool of `key<TAB>line` rows. With `decisions`,
    a line that is not an identifier is spooled as `!<code><TAB>` rather than refusing all."""
    validate_purpose(purpose_key)
    if id_type != KEY and not keys.ID_TYPE.match(id_type or ""):
        raise ApplicationError(
            "id_type is `key` or an identifier type such as email or phone.",
            code="invalid_id_type",
        )
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115
    errors: list[LineError] = []
    for number, raw in read_lines(
        stream,
        max_lines=settings.LUP_CONSENT_FILTER_MAX_LINES,
        max_line_bytes=settings.LUP_MAX_LINE_BYTES,
    ):
        if raw is None:
            errors.append(LineError(number, "line", "line_too_long"))
            continue
        if decisions:
            spool.write(_decision_row(raw, id_type))
            continue
        try:
            text = raw.decode("utf-8").strip()
            if "\t" in text:
                raise keys.InvalidIdentifier("Tabs are not allowed.")
            key = keys.validate_subject_key(text) if id_type == KEY else keys.key_for(id_type, text)
        except UnicodeDecodeError:
            errors.append(LineError(number, "line", "invalid_utf8"))
            continue
        except keys.InvalidIdentifier as exc:
            errors.append(LineError(number, "line", exc.code))
            continue
        if not errors:
            spool.write(f"{key}\t{text}\n".encode())
    if errors:
        spool.close()
        raise FilterRejected(errors)
    spool.seek(0)
    return spool


def _decision_row(raw: bytes, id_type: str) -> bytes:
    try:
        text = raw.decode("utf-8").strip()
        if "\t" in text:
            raise keys.InvalidIdentifier("Tabs are not allowed.")
        key = keys.validate_subject_key(text) if id_type == KEY else keys.key_for(id_type, text)
    except UnicodeDecodeError:
        return INVALID + b"invalid_utf8\t\n"
    except keys.InvalidIdentifier as exc:
        return INVALID + exc.code.encode() + b"\t\n"
    return f"{key}\t\n".encode()


def filter_decisions(*, spool: IO[bytes], purpose_key: str) -> Iterator[bytes]:
    """Yield one decision a line sent, in order (see the module's docstring)."""
    try:
        while True:
            batch = [
                line.split(b"\t", 1)[0] for _, line in zip(range(FILTER_BATCH), spool, strict=False)
            ]
            if not batch:
                return
            wanted = {key.decode() for key in batch if not key.startswith(INVALID)}
            decided = {
                key.encode(): ALLOWED if decision.allowed else decision.reason.encode()
                for key, decision in consent_filter_keys(keys=wanted, purpose_key=purpose_key)
            }
            yield b"".join(
                (key[1:] if key.startswith(INVALID) else decided.get(key, b"no_consent")) + b"\n"
                for key in batch
            )
    finally:
        spool.close()


def filter_stream(*, spool: IO[bytes], purpose_key: str) -> Iterator[bytes]:
    """Yield the allowed lines, as the caller wrote them, one per line."""
    try:
        while True:
            batch = [
                line.rstrip(b"\n").split(b"\t", 1)
                for _, line in zip(range(FILTER_BATCH), spool, strict=False)
            ]
            if not batch:
                return
            allowed = {
                key
                for key, decision in consent_filter_keys(
                    keys={key.decode() for key, _ in batch}, purpose_key=purpose_key
                )
                if decision.allowed
            }
            out = b"".join(text + b"\n" for key, text in batch if key.decode() in allowed)
            if out:
                yield out
    finally:
        spool.close()
