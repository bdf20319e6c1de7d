"""An S3-compatible bucket as the `s3_objects` kind reads and replaces it, with boto3.

- `client(config)`: a client for the configured endpoint (any S3-compatible store), its
  credentials from the environment or a credentials file only (never from the config itself);
- `Store.open(ref)`: an object (or one version of it) as a byte stream, recording the ETag and
  version id that were read; spooled to a local temporary file first when the reader must seek;
- `Store.spool()` / `Store.publish(temp, ref)`: a rewrite is written to a local temporary file,
  then uploaded in the object's place only if the object is still the one read (`If-Match` on
  its ETag, on PutObject or on CompleteMultipartUpload): a concurrent writer's object is never
  replaced, and the refusal (`ObjectChanged`) makes the caller read again. Objects larger than
  `PART_BYTES` are uploaded in parts, read from the file one part at a time, so memory stays
  bounded whatever the object's size;
- `Store.versions(...)`, `Store.delete_version(...)`, `Store.copy_version(...)`,
  `Store.lock(...)`: what a versioned bucket keeps, a version copied on top of its object
  (conditioned like a rewrite), and the object lock that may forbid deleting a version.

Every store error is answered as `TargetUnavailable` (worth retrying) except a refused
precondition (`ObjectChanged`) and a missing bucket or denied access (`TargetUnreachable`
on registration, `TargetUnavailable` at run time).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from core.lazy import lazy_module

from .errors import ObjectChanged, TargetUnavailable
from .secrets import confined

# Loaded by the first bucket a process reaches (see core.lazy): a worker that erases only
# local files never holds boto3's memory.
boto3 = lazy_module("boto3")
botocore_session = lazy_module("botocore.session")
botocore_config = lazy_module("botocore.config")
botocore_errors = lazy_module("botocore.exceptions")

# Parts of a multipart upload (S3 takes 5 MiB to 5 GiB); a smaller rewrite is one PutObject.
PART_BYTES = 16 << 20
# What one read of an object's stream asks for.
READ_BYTES = 1 << 20
GZIP_HEADER_BYTES = 10
PRECONDITION_FAILED = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
MISSING = {"NoSuchKey", "404", "NoSuchVersion"}
NO_LOCK_CONFIGURATION = {"ObjectLockConfigurationNotFoundError"}
# Clients kept per process (`client`), and the environment boto3's own chain reads.
MAX_CLIENTS = 16
AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
_CLIENTS: dict[str, Any] = {}
# Headers of the original object a replacement keeps.
KEPT_HEADERS = {
    "ContentType": "ContentType",
    "ContentEncoding": "ContentEncoding",
    "ContentLanguage": "ContentLanguage",
    "ContentDisposition": "ContentDisposition",
    "CacheControl": "CacheControl",
    "Metadata": "Metadata",
}


class ObjectGone(TargetUnavailable):
    """An object listed a moment ago was deleted meanwhile: there is nothing left to erase."""

    code = "object_gone"


@dataclass(frozen=True, slots=True)
class Written:
    """What a publish put in an object's place."""

    etag: str
    version_id: str | None


@dataclass(slots=True)
class ObjectRef:
    """One object (the current version, or `version_id`) and what a read of it found."""

    key: str
    version_id: str | None = None
    gzip: bool = False
    etag: str = ""
    read_version: str | None = None  # the version a read of the current object got
    headers: dict[str, Any] = field(default_factory=dict)
    # A gzip object's first bytes as read, its header: what a rewrite learns its level from.
    gzip_header: bytes = b""
    # The ETag the current object must have for a rewrite to be published: by default the one
    # read; when a version's history is rewritten, the one the previous step published.
    condition: str = ""
    written: Written | None = None  # what publishing put in the object's place

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Version:
    key: str
    version_id: str | None
    latest: bool
    etag: str = ""
    size: int = 0


@dataclass(frozen=True, slots=True)
class Lock:
    """What forbids deleting a version: its retention mode until a date, or a legal hold."""

    basis: str
    until: datetime | None


@dataclass(frozen=True, slots=True)
class Stat:
    """What a rewrite needs of the original besides its bytes (a gzip header's mtime)."""

    st_mtime: float


def client(config: dict[str, Any], timeout: float) -> Any:
    """A boto3 S3 client for the target. Credentials: the environment variables the config
    names, or the AWS credentials file it names (under `LUP_SECRET_FILE_ROOTS`), or else
    boto3's own chain (AWS_ACCESS_KEY_ID and the rest of the environment, the instance role).

    Clients are kept per process by what made them (a digest of the settings, the credentials
    and the credentials file's mtime, so a rotated secret makes a new one): building one loads
    botocore's models (tens of milliseconds), and a sharded pass opens a connector per shard.
    boto3 clients are safe to share between threads."""
    made = _made_by(config, timeout)
    found = _CLIENTS.get(made)
    if found is None:
        if len(_CLIENTS) >= MAX_CLIENTS:
            _CLIENTS.clear()
        found = _CLIENTS[made] = _client(config, timeout)
    return found


def _made_by(config: dict[str, Any], timeout: float) -> str:
    used: list[Any] = [timeout]
    used += [config.get(key) for key in ("endpoint_url", "region", "profile")]
    if "credentials_file" in config:
        path = confined(config["credentials_file"], "credentials_file")
        with contextlib.suppress(OSError):
            used += [str(path), path.stat().st_mtime_ns]
    names = [config.get("access_key_id_env"), config.get("secret_access_key_env"), *AWS_ENV]
    used += [os.environ.get(name) if name else None for name in names]
    return hashlib.sha256(json.dumps(used, default=str).encode()).hexdigest()


def credentials(config: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """The access key id, secret and session token a client for `config` signs with (for a
    library that talks to the store itself, such as pyiceberg's FileIO), from the same places
    `client` reads them; None when none is found."""
    session, keys = _session(config)
    if keys:
        return keys["aws_access_key_id"], keys["aws_secret_access_key"], None
    found = session.get_credentials()
    if found is None:
        return None
    frozen = found.get_frozen_credentials()
    return frozen.access_key, frozen.secret_key, frozen.token


def _session(config: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """A botocore session reading the config's credentials file (if any), and the keys read
    from the environment variables the config names (if any)."""
    session = botocore_session.get_session()
    if "credentials_file" in config:
        path = confined(config["credentials_file"], "credentials_file")
        session.set_config_variable("credentials_file", str(path))
        session.set_config_variable("config_file", os.devnull)
    if "profile" in config:
        session.set_config_variable("profile", config["profile"])
    keys: dict[str, str] = {}
    if "access_key_id_env" in config:
        keys["aws_access_key_id"] = os.environ.get(config["access_key_id_env"], "")
        keys["aws_secret_access_key"] = os.environ.get(config["secret_access_key_env"], "")
    return session, keys


def _client(config: dict[str, Any], timeout: float) -> Any:
    session, keys = _session(config)
    settings = botocore_config.Config(
        connect_timeout=min(timeout, 10),
        read_timeout=timeout,
        retries={"max_attempts": 2, "mode": "standard"},
        s3={"addressing_style": "path" if config.get("endpoint_url") else "auto"},
        # Checksums only where the operation requires them: S3-compatible stores differ.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session(botocore_session=session).client(
        "s3",
        endpoint_url=config.get("endpoint_url") or None,
        region_name=config.get("region") or "us-east-1",
        config=settings,
        **keys,
    )


@contextlib.contextmanager
def unavailable_on_store_error() -> Iterator[None]:
    """Store errors as the connector's own (`refused`)."""
    try:
        yield
    except (botocore_errors.ClientError, botocore_errors.BotoCoreError) as error:
        raise refused(error) from None


def refused(
    error: botocore_errors.ClientError | botocore_errors.BotoCoreError,
) -> TargetUnavailable:
    """A store error as `ObjectGone`, `ObjectChanged` or `TargetUnavailable`, naming its code
    only: a store's message may quote a key, and a key may carry a name."""
    if isinstance(error, botocore_errors.BotoCoreError):
        return TargetUnavailable(f"The object store could not be reached ({type(error).__name__}).")
    code = error_code(error)
    if code in MISSING:
        return ObjectGone("The object is gone.")
    if code in PRECONDITION_FAILED:
        return ObjectChanged("The object changed since it was read; it is read again.")
    return TargetUnavailable(f"The object store refused the request ({code}).")


def error_code(error: botocore_errors.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "error"))[:64]


class _Raw(io.RawIOBase):
    """A boto3 StreamingBody as a raw stream, so a BufferedReader gives lines and blocks."""

    def __init__(self, body: Any):
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with unavailable_on_store_error():
            data = self.body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.body.close()
        super().close()


class Store:
    """One bucket of one client; `timeout` bounds each request."""

    def __init__(self, s3: Any, bucket: str):
        self.s3 = s3
        self.bucket = bucket
        self.temp_dir = tempfile.gettempdir()

    # --- reading -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def open(self, ref: ObjectRef, *, spooled: bool) -> Iterator[tuple[IO[bytes], Stat]]:
        """The object's bytes (decompressed when `ref.gzip`), its ETag and version recorded on
        `ref`; a local copy when `spooled` (a reader that seeks), else a stream."""
        with unavailable_on_store_error():
            extra = {"VersionId": ref.version_id} if ref.version_id else {}
            got = self.s3.get_object(Bucket=self.bucket, Key=ref.key, **extra)
        ref.etag = got["ETag"]
        ref.read_version = got.get("VersionId")
        ref.headers = {to: got[of] for of, to in KEPT_HEADERS.items() if got.get(of)}
        stat = Stat(st_mtime=got["LastModified"].timestamp())
        with contextlib.ExitStack() as stack:
            raw: IO[bytes] = stack.enter_context(io.BufferedReader(_Raw(got["Body"]), READ_BYTES))
            if spooled:
                local = stack.enter_context(self._spooled_copy(raw))
                raw = local
            if ref.gzip:
                ref.gzip_header = raw.peek(GZIP_HEADER_BYTES)[:GZIP_HEADER_BYTES]
                raw = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
            yield raw, stat

    @contextlib.contextmanager
    def _spooled_copy(self, stream: IO[bytes]) -> Iterator[IO[bytes]]:
        with tempfile.TemporaryFile(dir=self.temp_dir, prefix="lup-s3-") as local:
            shutil.copyfileobj(stream, local, READ_BYTES)
            local.seek(0)
            yield local

    def keys(self, prefix: str) -> Iterator[str]:
        """The keys under `prefix` (folder markers, ending in "/", left out)."""
        for key, _ in self.sizes(prefix):
            yield key

    def sizes(self, prefix: str) -> Iterator[tuple[str, int]]:
        """The keys under `prefix` and their sizes in bytes, page by page of the listing."""
        for item in self._listed(prefix):
            yield item["Key"], item.get("Size", 0)

    def modified(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """The keys under `prefix` and when each was last written, page by page."""
        for item in self._listed(prefix):
            yield item["Key"], item["LastModified"]

    def _listed(self, prefix: str) -> Iterator[dict[str, Any]]:
        """The listing's entries under `prefix`, folder markers (ending in "/") left out."""
        with unavailable_on_store_error():
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    if not item["Key"].endswith("/"):
                        yield item

    def delete(self, key: str) -> None:
        with unavailable_on_store_error():
            self.s3.delete_object(Bucket=self.bucket, Key=key)

    def deleted(self, prefix: str) -> set[str]:
        """The keys under `prefix` whose latest version is a delete marker."""
        with unavailable_on_store_error():
            pages = self.s3.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            return {
                marker["Key"]
                for page in pages
                for marker in page.get("DeleteMarkers", ())
                if marker["IsLatest"]
            }

    def versions(self, prefix: str) -> Iterator[Version]:
        """Every version kept under `prefix` that holds data (delete markers hold none), each
        key's newest first."""
        with unavailable_on_store_error():
            pages = self.s3.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Versions", ()):
                    if not item["Key"].endswith("/"):
                        yield Version(
                            item["Key"],
                            item.get("VersionId"),
                            item["IsLatest"],
                            item["ETag"],
                            item.get("Size", 0),
                        )

    def versioning(self) -> str:
        """ "Enabled", "Suspended", or "" for a bucket that never had versioning."""
        with unavailable_on_store_error():
            return self.s3.get_bucket_versioning(Bucket=self.bucket).get("Status", "")

    def object_lock(self) -> bool:
        """Whether objects of the bucket can be locked at all."""
        try:
            found = self.s3.get_object_lock_configuration(Bucket=self.bucket)
        except botocore_errors.ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 or error_code(error) in NO_LOCK_CONFIGURATION:
                return False
            raise refused(error) from None
        except botocore_errors.BotoCoreError as error:
            raise refused(error) from None
        config = found.get("ObjectLockConfiguration", {})
        return config.get("ObjectLockEnabled") == "Enabled"

    def lock(self, key: str, version_id: str | None, now: datetime) -> Lock | None:
        """What forbids deleting that version now, if anything."""
        with unavailable_on_store_error():
            extra = {"VersionId": version_id} if version_id else {}
            head = self.s3.head_object(Bucket=self.bucket, Key=key, **extra)
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            return Lock(basis="object-lock:legal-hold", until=None)
        until = head.get("ObjectLockRetainUntilDate")
        mode = str(head.get("ObjectLockMode", "")).lower()
        if mode and until is not None and until > now:
            return Lock(basis=f"object-lock:{mode}", until=until)
        return None

    # --- writing -------------------------------------------------------------------------------

    def spool(self) -> Any:
        """A named local temporary file for a rewrite (removed by `publish` or `discard`)."""
        return tempfile.NamedTemporaryFile(
            dir=self.temp_dir, prefix="lup-s3-", suffix=".tmp", delete=False
        )

    def publish(self, temp: str, ref: ObjectRef) -> None:
        """Upload the rewrite in the place of `ref`, only if the object is still the one that
        was read (its ETag); `ObjectChanged` otherwise. The temporary file is removed."""
        try:
            size = os.path.getsize(temp)
            with open(temp, "rb") as source, unavailable_on_store_error():
                if size <= PART_BYTES:
                    done = self.s3.put_object(
                        Bucket=self.bucket,
                        Key=ref.key,
                        Body=source,
                        IfMatch=ref.condition or ref.etag,
                        **ref.headers,
                    )
                else:
                    done = self._upload_in_parts(source, ref)
            ref.written = Written(etag=done["ETag"], version_id=done.get("VersionId"))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    def _upload_in_parts(self, source: IO[bytes], ref: ObjectRef) -> dict[str, Any]:
        """A multipart upload, one part in memory at a time, completed only if the object is
        still the one read; aborted on any failure so no parts are left behind."""
        upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key=ref.key, **ref.headers)
        upload_id = upload["UploadId"]
        try:
            parts = []
            number = 1
            while chunk := source.read(PART_BYTES):
                done = self.s3.upload_part(
                    Bucket=self.bucket,
                    Key=ref.key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                )
                parts.append({"PartNumber": number, "ETag": done["ETag"]})
                number += 1
            return self.s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=ref.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfMatch=ref.condition or ref.etag,
            )
        except BaseException:
            with contextlib.suppress(botocore_errors.ClientError, botocore_errors.BotoCoreError):
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=ref.key, UploadId=upload_id)
            raise

    def copy_version(self, ref: ObjectRef) -> None:
        """Publish an unchanged copy of the version `ref` names (its bytes as stored) on top of
        the object, conditioned like a rewrite (`ref.condition`)."""
        temp = self.spool()
        try:
            with unavailable_on_store_error():
                got = self.s3.get_object(Bucket=self.bucket, Key=ref.key, VersionId=ref.version_id)
            ref.headers = {to: got[of] for of, to in KEPT_HEADERS.items() if got.get(of)}
            with io.BufferedReader(_Raw(got["Body"]), READ_BYTES) as body:
                shutil.copyfileobj(body, temp, READ_BYTES)
            temp.close()
        except BaseException:
            temp.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp.name)
            raise
        self.publish(temp.name, ref)

    def delete_version(self, key: str, version_id: str) -> None:
        with unavailable_on_store_error():
            self.s3.delete_object(Bucket=self.bucket, Key=key, VersionId=version_id)
