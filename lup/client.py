"""The Python client: `Lup(url, token)` with one typed method an operation.

    from lup.client import Lup

    lup = Lup()  # LUP_URL / LUP_TOKEN / ~/.config/lup/config.toml
    version = lup.version_register(namespace="s3://evals", name="khmer-qa", version="3")
    lup.members_upload(version["id"], emails, id_type="email")
    kept, why = lup.consent_filter_table(table, column="email", purpose="train_ai_system")

Only the standard library speaks HTTP. Refusals raise `ApiError` with the API's stable code;
a service that cannot be reached raises `Unreachable`. Requests that are safe to repeat (reads,
and erasure filings, which carry an `Idempotency-Key`) are retried on a dropped connection or a
502/503/504, with backoff; uploads are not, since their bodies are streams.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit

from lup import __version__
from lup.settings import settings_load

ALLOWED = "allowed"
MISSING = "missing_identifier"  # the row has no value in the column: not sent
INVALID = "invalid_identifier"  # a value that cannot be one line (a line break in it): not sent
FILTER_BATCH = 50_000  # rows a consent filter call carries; bounds the client's memory
CHUNK = 64 * 1024
RETRY_STATUSES = frozenset({502, 503, 504})

Progress = Callable[[int, int], None]  # (bytes sent, bytes in all)


class LupError(Exception):
    """Anything the client could not do."""


class ApiError(LupError):
    """The API refused: `status` (4xx, or 5xx), its stable `code`, `detail` and `fields`."""

    def __init__(self, status: int, code: str, detail: str, fields: dict | None = None):
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.fields = fields or {}


class Unreachable(LupError):
    """No answer from the service (refused connection, DNS, timeout)."""


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _error(status: int, body: bytes) -> ApiError:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and "code" in data:
        return ApiError(status, data["code"], str(data.get("detail", "")), data.get("fields"))
    return ApiError(status, f"http_{status}", body[:200].decode("utf-8", "replace"))


class Lup:
    """A client of one Lup service. Not shared between threads (each call opens its own
    connection, so several clients may run side by side)."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        retries: int = 3,
        timeout: float = 300.0,
        backoff: float = 0.5,
    ):
        settings = settings_load(url=url, token=token)
        parts = urlsplit(settings.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LupError(f"The service URL is http(s)://host[:port], not {settings.url!r}.")
        self.url = settings.url
        self.token = settings.token
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        self._parts = parts
        self._openapi: dict | None = None

    # --- HTTP ----------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        cls = (
            http.client.HTTPSConnection
            if self._parts.scheme == "https"
            else http.client.HTTPConnection
        )
        return cls(self._parts.hostname, self._parts.port, timeout=self.timeout)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"User-Agent": f"lup-client/{__version__}", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def _path(self, path: str, query: dict[str, Any] | None) -> str:
        base = self._parts.path.rstrip("/")
        full = f"{base}/api/v1/{path.lstrip('/')}" if not path.startswith("/") else base + path
        if query:
            full += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        return full

    def open(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: bytes | Iterable[bytes] | None = None,
        length: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> http.client.HTTPResponse:
        """Send one request and return the open response (the caller reads it; a 4xx/5xx
        raises). A streamed `body` (an iterable of bytes) needs its `length`: the body goes
        with a Content-Length, which every server in front of Lup accepts."""
        headers = self._headers(headers)
        if body is not None:
            headers["Content-Length"] = str(len(body) if isinstance(body, bytes) else length)
        connection = self._connection()
        try:
            connection.request(method, self._path(path, query), body=body, headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise Unreachable(f"{self.url}: {exc.__class__.__name__}: {exc}") from None
        if response.status >= 400:
            data = response.read()
            connection.close()
            raise _error(response.status, data)
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        json_body: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        retry: bool | None = None,
    ) -> Response:
        """One call, its whole answer read. Retried when `retry` (by default: GET)."""
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        attempts = 1 + (self.retries if (method == "GET" if retry is None else retry) else 0)
        for attempt in range(attempts):
            try:
                response = self.open(method, path, query=query, body=body, headers=headers)
                data = response.read()
                return Response(response.status, response.getheader("Content-Type", ""), data)
            except (Unreachable, ApiError) as exc:
                again = isinstance(exc, Unreachable) or exc.status in RETRY_STATUSES
                if not again or attempt == attempts - 1:
                    raise
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, method: str, path: str, **kwargs) -> Any:
        return self.request(method, path, **kwargs).json()

    # --- lineage -------------------------------------------------------------------------

    def manifest_register(self, manifest: str | bytes) -> dict[str, int]:
        """Register a lineage manifest (YAML or JSON text), all or nothing; returns what it
        added by kind (all 0 when it was registered already)."""
        text = manifest.encode() if isinstance(manifest, str) else manifest
        headers = {"Content-Type": "application/yaml"}
        return self._json("POST", "lineage/manifests", body=text, headers=headers)["added"]

    def dataset_register(
        self, *, namespace: str, name: str, description: str = "", license: str = ""
    ) -> dict:
        body = {"namespace": namespace, "name": name, "description": description}
        return self._json("POST", "lineage/datasets", json_body={**body, "license": license})

    def version_register(self, *, namespace: str, name: str, version: str, **fields: Any) -> dict:
        """Register a dataset version (`digest`, `record_count`, `schema_fields`,
        `data_categories`, `purposes`, `languages`, `origin`, `locations` as the API takes
        them). The same content again answers with the existing version."""
        body = {"namespace": namespace, "name": name, "version": version, **fields}
        return self._json("POST", "lineage/versions", json_body=body)

    def version(self, version_id: str) -> dict:
        return self._json("GET", f"lineage/versions/{quote(str(version_id))}")

    def lineage(self, node_id: str, *, depth: int = 20) -> dict:
        """The graph around `dataset:<namespace>:<name>`, `job:…` or `model:…`."""
        return self._json("GET", "lineage", query={"nodeId": node_id, "depth": depth})

    def members_upload(
        self,
        version_id: str,
        values: Iterable[str | None],
        *,
        id_type: str = "email",
        progress: Progress | None = None,
    ) -> dict:
        """Record the subjects a version holds: one identifier a value (empty ones skipped).
        The values are spooled (memory, then a temporary file) and streamed in one upload,
        so the version gets all of them or none."""
        with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:
            for number, value in enumerate(values, 1):
                text = _line(value)
                if text is INVALID_LINE:
                    raise LupError(f"Value {number} holds a line break; nothing was sent.")
                if text:
                    spool.write(text.encode() + b"\n")
            length = spool.tell()
            spool.seek(0)
            response = self.open(
                "POST",
                f"lineage/versions/{quote(str(version_id))}/members",
                query={"id_type": id_type},
                body=_chunks(spool, length, progress),
                length=length,
                headers={"Content-Type": "text/plain"},
            )
            return json.loads(response.read())

    # --- consent -------------------------------------------------------------------------

    def purposes(self) -> Any:
        return self._json("GET", "consent/purposes")

    def consent_decisions(
        self, values: list[str], *, purpose: str, id_type: str = "email"
    ) -> list[str]:
        """One call: a decision for each value (none empty, none with a line break), in order:
        `allowed`, or why not (`withdrawn`, `refused`, `expired`, `no_consent`, or the code of
        a value that is not an identifier of `id_type`)."""
        if not values:
            return []
        body = ("\n".join(values) + "\n").encode()
        response = self.open(
            "POST",
            "consent/filter",
            query={"purpose": purpose, "id_type": id_type, "answer": "decisions"},
            body=body,
            headers={"Content-Type": "text/plain"},
        )
        decisions = response.read().decode().splitlines()
        if len(decisions) != len(values):
            raise LupError(f"The service answered {len(decisions)} decisions for {len(values)}.")
        return decisions

    def consent_decide(
        self,
        values: Iterable[str | None],
        *,
        purpose: str,
        id_type: str = "email",
        batch: int = FILTER_BATCH,
    ) -> Iterator[str]:
        """A decision for each value, in order, `batch` values a call. A missing value is
        `missing_identifier`, one with a line break `invalid_identifier`; neither is sent."""
        pending: list[str | None] = []
        for value in values:
            pending.append(value)
            if len(pending) >= batch:
                yield from self._decide(pending, purpose=purpose, id_type=id_type)
                pending = []
        yield from self._decide(pending, purpose=purpose, id_type=id_type)

    def _decide(self, values: list[str | None], *, purpose: str, id_type: str) -> list[str]:
        out: list[str] = []
        sent: list[str] = []
        for value in values:
            text = _line(value)
            if text is None:
                out.append(MISSING)
            elif text is INVALID_LINE:
                out.append(INVALID)
            else:
                out.append("")
                sent.append(text)
        answers = iter(self.consent_decisions(sent, purpose=purpose, id_type=id_type))
        return [decision or next(answers) for decision in out]

    def consent_mask(
        self, values: Iterable[str | None], *, purpose: str, id_type: str = "email"
    ) -> tuple[list[bool], Counter]:
        """Which values may be used for `purpose` (in order), and why the others may not."""
        mask: list[bool] = []
        why: Counter = Counter()
        for decision in self.consent_decide(values, purpose=purpose, id_type=id_type):
            mask.append(decision == ALLOWED)
            if decision != ALLOWED:
                why[decision] += 1
        return mask, why

    def consent_filter_table(self, table, *, column: str, purpose: str, id_type: str = "email"):
        """A pyarrow Table (or RecordBatch) with only the rows whose subject may be used for
        `purpose`, in order, schema and metadata kept; and the dropped rows' reasons."""
        import pyarrow as pa

        values = (None if v is None else str(v) for v in table.column(column).to_pylist())
        mask, why = self.consent_mask(values, purpose=purpose, id_type=id_type)
        return table.filter(pa.array(mask, type=pa.bool_())), why

    def consent_filter_dataframe(self, frame, *, column: str, purpose: str, id_type: str = "email"):
        """A pandas DataFrame with only the rows whose subject may be used (index kept)."""
        values = (None if _na(v) else str(v) for v in frame[column].tolist())
        mask, why = self.consent_mask(values, purpose=purpose, id_type=id_type)
        return frame[mask], why

    def consent_filter_dataset(
        self,
        dataset,
        *,
        column: str,
        purpose: str,
        id_type: str = "email",
        batch_size: int = 10_000,
        **filter_kwargs: Any,
    ):
        """A Hugging Face `datasets.Dataset` with only the rows whose subject may be used:
        `Dataset.filter(batched=True)`, one consent call a batch."""

        def allowed(values: list) -> list[bool]:
            values = [None if v is None else str(v) for v in values]
            return self.consent_mask(values, purpose=purpose, id_type=id_type)[0]

        return dataset.filter(
            allowed, input_columns=column, batched=True, batch_size=batch_size, **filter_kwargs
        )

    # --- targets -------------------------------------------------------------------------

    def targets(self) -> list[dict]:
        return self._json("GET", "erasure/targets")["targets"]

    def target(self, target_id: int) -> dict:
        return self._json("GET", f"erasure/targets/{int(target_id)}")

    def target_schema(self, kind: str) -> dict | None:
        """The JSON Schema (draft 2020-12) of a kind's `config`, read from the service's OpenAPI
        document (its `TargetInput` variant for the kind); None when the document has none."""
        if self._openapi is None:
            self._openapi = self._json("GET", "/api/schema/", query={"format": "json"})
        name = "TargetInput" + "".join(part.capitalize() for part in kind.split("_"))
        variant = self._openapi.get("components", {}).get("schemas", {}).get(name)
        if not isinstance(variant, dict) or "config" not in variant.get("properties", {}):
            return None
        return {"$schema": JSON_SCHEMA, **_from_openapi(variant["properties"]["config"])}

    def target_register(self, **body: Any) -> dict:
        """Register a target (`name`, `kind`, `config`, `country`, and optionally
        `operation`, `versions`, `always`, `requires_approval`, `identity_source`)."""
        return self._json("POST", "erasure/targets", json_body=body)

    def target_index(self, target_id: int, **schedule: int | None) -> dict:
        """Start building the target's subject index by scanning it (a build already running
        is joined); `every_minutes=N` also rebuilds it every N minutes, `every_minutes=None`
        stops that. Answers the index's status (`target_index_status`)."""
        path = f"erasure/targets/{int(target_id)}/index"
        return self._json("POST", path, json_body=dict(schedule))

    def target_index_status(self, target_id: int) -> dict:
        """`state` (`queued`, `running`, `done`, `failed`, `not_indexed`) and counts only."""
        return self._json("GET", f"erasure/targets/{int(target_id)}/index")

    def target_retire(self, target_id: int, *, reason: str) -> dict:
        path = f"erasure/targets/{int(target_id)}/retire"
        return self._json("POST", path, json_body={"reason": reason})

    # --- erasure -------------------------------------------------------------------------

    def erasure_file(
        self,
        identifiers: list[dict[str, str]],
        *,
        country: str = "",
        idempotency_key: str | None = None,
        verified: dict[str, str] | None = None,
        plan: bool = False,
    ) -> dict:
        """File an erasure request for `[{"id_type": "email", "value": ...}, ...]`. It carries
        an `Idempotency-Key` (a new one unless given), so the retries of a filing whose answer
        was lost file it once."""
        body: dict[str, Any] = {"identifiers": identifiers, "country": country}
        if verified is not None:
            body["verified"] = verified
        if plan:
            body["plan"] = True
        key = idempotency_key or str(uuid.uuid4())
        return self._json(
            "POST",
            "erasure-requests",
            json_body=body,
            headers={"Idempotency-Key": key},
            retry=True,
        )

    def erasure_status(self, request_id: str) -> dict:
        return self._json("GET", f"erasure-requests/{quote(str(request_id))}")

    def erasure_requests(self) -> Iterator[dict]:
        """Every request, newest first, page by page."""
        path: str | None = "erasure-requests"
        while path:
            page = self._json("GET", path)
            yield from page["results"]
            following = page.get("next")
            path = (
                urlsplit(following)._replace(scheme="", netloc="").geturl() if following else None
            )

    def erasure_bundle(self, request_id: str) -> dict:
        """The request's receipt bundle: verify it offline with `lup verify bundle`."""
        return self._json("GET", f"erasure-requests/{quote(str(request_id))}/bundle")

    # --- ledger --------------------------------------------------------------------------

    def verifier_key(self) -> str:
        return self.request("GET", "ledger/key").body.decode().strip()


INVALID_LINE = object()
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"


def _from_openapi(schema: Any) -> Any:
    """An OpenAPI 3.0 schema object back as JSON Schema 2020-12 (`nullable`, a boolean
    `exclusiveMinimum`, `example`), so a stock validator reads it as the server does."""
    if isinstance(schema, list):
        return [_from_openapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "example":
            continue
        if key == "properties":
            out[key] = {name: _from_openapi(inner) for name, inner in value.items()}
        elif key not in ("nullable", "exclusiveMinimum"):
            out[key] = _from_openapi(value)
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if schema.get("exclusiveMinimum") is True and "minimum" in out:
        out["exclusiveMinimum"] = out.pop("minimum")
    return out


def _line(value: str | None):
    """The value as one line to send: None when there is none, INVALID_LINE when it cannot
    be one line."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if "\n" in text or "\r" in text:
        return INVALID_LINE
    return text


def _na(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _chunks(stream: IO[bytes], length: int, progress: Progress | None) -> Iterator[bytes]:
    sent = 0
    while chunk := stream.read(CHUNK):
        yield chunk
        sent += len(chunk)
        if progress:
            progress(sent, length)
