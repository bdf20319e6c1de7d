"""Ties between targets and the datasets pipelines name in their OpenLineage events.

A target whose kind stores files, tables or objects knows the OpenLineage dataset its config
points at (`Connector.lineage_dataset`): namespace "file" and the absolute path of the file,
folder or table (`delta_table`, `lance_table`'s `<table>.lance`, `hf_dataset`, `iceberg_table`'s
location, the file kinds, a sharded one's `dir`), or namespace "s3://<bucket>" and the prefix
(`s3_objects`). A dataset whose name (or a `symlinks` alias) is that one has its versions
stored by the target, so planning reaches the target from their membership and the subject
index can scan it:

- when an event is recorded, the versions it names are tied to every target (not retired)
  pointing at their dataset (`on_versions_named`, through `lineage.signals`);
- when a target is registered or changed, the versions of the datasets already named so are
  tied to it (`tied_versions`), beside the versions given explicitly.

Names are compared as the OpenLineage naming spec spells them, with the variants producers
emit: a "file://<host>" namespace is "file", paths are normalized ("/a/./b/" is "/a/b"); the
"s3a" and "s3n" schemes are "s3", and a key's leading and trailing slashes are ignored. A
path is compared as the target resolves it (symlinks followed), since that is what is erased.
"""

import posixpath
from collections.abc import Iterable
from typing import Any

import structlog
from django.conf import settings

from connectors import CONNECTORS, Connector, connector_for
from core.errors import ApplicationError
from erasure.models import Target
from lineage.selectors import version_dataset_names, versions_of_datasets_named

log = structlog.get_logger(__name__)

FILE = "file"
S3_SCHEMES = ("s3", "s3a", "s3n")
# Kinds whose connector names the dataset it points at.
TIED_KINDS = frozenset(
    kind for kind, cls in CONNECTORS.items() if cls.lineage_dataset is not Connector.lineage_dataset
)

# Targets' sources kept between events, by (target id, last change, file roots).
MAX_CACHED = 4096

Source = tuple[str, str]
_SOURCES: dict[tuple[Any, Any, tuple[str, ...]], "Source | None"] = {}


def source(namespace: str, name: str) -> Source | None:
    """A dataset's name in the form ties compare, or None if it is neither a local path nor
    an S3 key."""
    if namespace == FILE or namespace.startswith(f"{FILE}://"):
        if not name.startswith("/"):
            return None
        return (FILE, posixpath.normpath(name))
    scheme, separator, bucket = namespace.partition("://")
    if separator and scheme in S3_SCHEMES and bucket and "/" not in bucket:
        return (f"s3://{bucket}", name.strip("/"))
    return None


def target_source(kind: str, config: dict[str, Any]) -> Source | None:
    """The dataset a target's config points at, or None (a kind that names none, a config
    its connector no longer accepts, the roots changed, or an Iceberg catalog that cannot be
    read now): a tie is never a reason to refuse an event or a registration."""
    if kind not in TIED_KINDS:
        return None
    try:
        named = connector_for(kind, config).lineage_dataset()
    except (ApplicationError, OSError):  # an Iceberg table's metadata gone, say
        return None
    return source(*named) if named is not None else None


def tied_versions(*, kind: str, config: dict[str, Any]) -> list[Any]:
    """Ids of the versions of every dataset named as the target's config points at."""
    found = target_source(kind, config)
    if found is None:
        return []
    namespace, name = found
    if namespace == FILE:
        namespaces, prefixes, names = [FILE], [f"{FILE}://"], [name, f"{name}/"]
    else:
        bucket = namespace.removeprefix("s3://")
        namespaces, prefixes = [f"{scheme}://{bucket}" for scheme in S3_SCHEMES], []
        names = [name, f"/{name}", f"{name}/", f"/{name}/"] if name else ["", "/"]
    return versions_of_datasets_named(
        namespaces=namespaces, namespace_prefixes=prefixes, names=names
    )


def on_versions_named(*, version_ids: Iterable[Any], **_: Any) -> None:
    """Tie the versions an event named to the targets pointing at their datasets."""
    rows = Target.objects.filter(kind__in=TIED_KINDS).exclude(state=Target.State.RETIRED)
    # The targets first: without one that points at a dataset (most events, and every one of
    # a deployment without such targets) the event's ten thousand versions are never read.
    pointing = [
        (target, found)
        for target in rows.only("pk", "kind", "config", "updated_at")
        if (found := _cached_source(target)) is not None
    ]
    if not pointing:
        return
    wanted: dict[Source, list[str]] = {}
    for version_id, names in version_dataset_names(version_ids=version_ids).items():
        for found in {source(namespace, name) for namespace, name in names} - {None}:
            wanted.setdefault(found, []).append(version_id)  # type: ignore[arg-type]
    tied = 0
    for target, found in pointing:
        if found in wanted:
            target.versions.add(*wanted[found])
            tied += 1
    if tied:
        log.info("targets.versions_tied", targets=tied, versions=len(set().union(*wanted.values())))


def _cached_source(target: Target) -> Source | None:
    """A target's source, computed once per change of the target (and of the file roots):
    building a connector checks its whole config, which events arriving by the thousand need
    not repeat."""
    key = (target.pk, target.updated_at, tuple(settings.LUP_FILE_ROOTS))
    if key not in _SOURCES:
        if len(_SOURCES) >= MAX_CACHED:
            _SOURCES.clear()
        _SOURCES[key] = target_source(target.kind, target.config)
    return _SOURCES[key]
