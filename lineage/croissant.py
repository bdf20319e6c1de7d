"""Dataset cards in MLCommons Croissant 1.0 (JSON-LD): export a dataset version, import one.

What maps to what:

- the dataset's name, description and license, and the version's label (`version`) and
  registration date (`datePublished`);
- `distribution`: one `cr:FileObject` per storage location, with its `contentUrl`, an
  `encodingFormat` guessed from the URI, and the version's digest as `sha256` (every copy of a
  version holds the same bytes). A location whose URI is a glob (`s3://b/part-*.parquet`) is
  a `cr:FileSet` whose `includes` is that glob;
- one `cr:RecordSet`, "records", with a `cr:Field` per schema field, read from the column of
  that name in the first file; Lup's free-form types map to schema.org data types
  (`FIELD_TYPES`), unknown ones to `sc:Text`. A version with no storage location has no file
  for its fields to come from: its card lists them, but validators refuse it;
- purposes as `rai:dataUseCases`, data categories as `rai:personalSensitiveInformation`,
  languages as `inLanguage`.

Import reads the compact form with Croissant's standard context (what Croissant tools write),
not arbitrary JSON-LD. It creates the dataset and one version; it keeps a digest only when the
distribution's files share one sha256, and purposes and data categories only when they are
keys (fideslang categories, dotted purpose keys), not prose. Storage locations are not
imported: a card does not say which country the bytes are in.
"""

import mimetypes
import re
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from fideslang import DEFAULT_TAXONOMY

from core.errors import ApplicationError
from lineage import services
from lineage.models import DatasetVersion, StorageLocation
from lineage.services import VersionInput, is_language_code

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"

# The standard @context of Croissant 1.0 (the specification's appendix). Tools warn about a
# card whose context differs, so it is copied whole rather than trimmed to the terms used.
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

RECORD_SET = "records"

# Lup's field types (the first of each row is what import gives back) and their synonyms, as
# schema.org data types. A type is matched lower-cased, without parameters: VARCHAR(20) is
# varchar.
FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "sc:Text": ("string", "str", "text", "varchar", "char", "character varying", "uuid"),
    "sc:Integer": (
        "integer",
        "int",
        "int8",
        "int16",
        "int32",
        "int64",
        "bigint",
        "smallint",
        "long",
        "short",
    ),
    "sc:Float": (
        "float",
        "float32",
        "float64",
        "double",
        "double precision",
        "real",
        "decimal",
        "numeric",
        "number",
    ),
    "sc:Boolean": ("boolean", "bool"),
    "sc:Date": ("date",),
    "sc:DateTime": ("datetime", "timestamp", "timestamptz", "timestamp with time zone"),
    "sc:URL": ("url", "uri"),
    "sc:ImageObject": ("image",),
}
_TYPE_OF = {
    synonym: data_type for data_type, synonyms in FIELD_TYPES.items() for synonym in synonyms
}

ENCODING_FORMATS = {
    ".parquet": "application/x-parquet",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".jsonl": "application/jsonlines",
    ".ndjson": "application/jsonlines",
    ".json": "application/json",
    ".zip": "application/zip",
    ".tgz": "application/x-gzip",
    ".gz": "application/x-gzip",
    ".tar": "application/x-tar",
    ".txt": "text/plain",
}

DATA_CATEGORIES = frozenset(category.fides_key for category in DEFAULT_TAXONOMY.data_category)
PURPOSE_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
DATASET_TYPES = {"sc:Dataset", "Dataset", "https://schema.org/Dataset", "http://schema.org/Dataset"}


def croissant_export(*, version: DatasetVersion, url: str = "") -> dict[str, Any]:
    """The Croissant card of a dataset version. `url` is the dataset's page; without one,
    the first storage location stands in for it."""
    dataset = version.dataset
    locations = list(StorageLocation.objects.filter(version=version).order_by("id"))
    distribution = [
        _file(location, index, version.digest) for index, location in enumerate(locations, start=1)
    ]
    card: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": dataset.name,
        "description": dataset.description,
        "url": url or (locations[0].uri if locations else ""),
        "version": version.version,
        "datePublished": version.created_at.date().isoformat(),
        "distribution": distribution,
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": RECORD_SET,
                "name": RECORD_SET,
                "field": [
                    _field(column, distribution[0] if distribution else None)
                    for column in version.schema_fields
                ],
            }
        ],
    }
    if dataset.license:
        card["license"] = dataset.license
    if not card["url"]:
        del card["url"]
    if version.purposes:
        card["rai:dataUseCases"] = list(version.purposes)
    if version.languages:
        card["inLanguage"] = list(version.languages)
    if version.data_categories:
        card["rai:personalSensitiveInformation"] = list(version.data_categories)
    return card


def _file(location: StorageLocation, index: int, digest: str) -> dict[str, Any]:
    where = ", ".join(part for part in (location.region, location.provider) if part)
    entry: dict[str, Any] = {
        "@id": f"{location.system}-{index}",
        "name": f"{location.system}-{index}",
        "description": f"{location.system} in {location.country}"
        + (f" ({where})" if where else ""),
        "encodingFormat": _encoding_format(location.uri),
    }
    if any(char in urlsplit(location.uri).path for char in "*?["):  # a glob, not a query
        entry = {"@type": "cr:FileSet", **entry, "includes": location.uri}
    else:
        entry = {"@type": "cr:FileObject", **entry, "contentUrl": location.uri}
        if digest:
            entry["sha256"] = digest.removeprefix("sha256:")
    return entry


def _encoding_format(uri: str) -> str:
    path = urlsplit(uri).path.lower()
    for suffix, media_type in ENCODING_FORMATS.items():
        if path.endswith(suffix):
            return media_type
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def _field(column: dict[str, Any], file: dict[str, Any] | None) -> dict[str, Any]:
    name = str(column.get("name", ""))
    entry: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": f"{RECORD_SET}/{name}",
        "name": name,
        "dataType": _data_type(str(column.get("type") or "")),
    }
    if column.get("description"):
        entry["description"] = column["description"]
    if file is not None:
        kind = "fileObject" if file["@type"] == "cr:FileObject" else "fileSet"
        entry["source"] = {kind: {"@id": file["@id"]}, "extract": {"column": name}}
    return entry


def _data_type(field_type: str) -> str:
    if field_type in FIELD_TYPES:  # already a schema.org type
        return field_type
    base = field_type.split("(", 1)[0].strip().lower()
    return _TYPE_OF.get(base, "sc:Text")


class InvalidCroissant(ApplicationError):
    code = "invalid_croissant"

    def __init__(self, path: str, problem: str, detail: str):
        super().__init__(
            f"Not a Croissant card Lup can read: {path}: {detail}", fields={path: problem}
        )


def croissant_import(*, document: Any, namespace: str) -> DatasetVersion:
    """Create a dataset (or reuse the one with that name) and a version from a Croissant card.

    The same card again returns the same version; a card with other content for an existing
    version is refused, as any change to a version is (`version_immutable`)."""
    if (
        not isinstance(namespace, str)
        or not namespace.strip()
        or len(namespace) > 500
        or "\x00" in namespace
    ):
        raise ApplicationError(
            "namespace is required, at most 500 characters.",
            code="invalid_dataset",
            fields={"namespace": "invalid_namespace"},
        )
    if not isinstance(document, dict):
        raise InvalidCroissant("$", "not_an_object", "a card is a JSON object")
    if not _types(document) & DATASET_TYPES:
        raise InvalidCroissant("@type", "not_a_dataset", "@type must be sc:Dataset")
    name = _text(document, "name", "", required=True)
    description = _text(document, "description", "")
    license = _license(document.get("license"))
    version = document.get("version", "1")
    if (
        isinstance(version, bool)
        or not isinstance(version, str | int | float)
        or not str(version).strip()
    ):
        raise InvalidCroissant("version", "invalid_version", "version is a string")
    data = VersionInput(
        version=str(version),
        digest=_digest(_many(document.get("distribution"))),
        schema_fields=_fields(_many(document.get("recordSet"))),
        data_categories=[
            value
            for value in _strings(document, "rai:personalSensitiveInformation")
            if value in DATA_CATEGORIES
        ],
        purposes=[
            value for value in _strings(document, "rai:dataUseCases") if PURPOSE_KEY.match(value)
        ],
        # schema.org's inLanguage is BCP 47 ("km", "zh-Hans"): its language subtag, where that
        # is an ISO 639 code.
        languages=sorted(
            {
                tag.split("-")[0].lower()
                for tag in _strings(document, "inLanguage")
                if is_language_code(tag.split("-")[0].lower())
            }
        ),
    )
    if len(name) > 500 or len(license) > 200 or len(data.version) > 200:
        too_long = "name" if len(name) > 500 else "license" if len(license) > 200 else "version"
        raise InvalidCroissant(too_long, "too_long", f"{too_long} is too long")
    with transaction.atomic():
        dataset = services.dataset_register(
            namespace=namespace, name=name, description=description, license=license
        )
        return services.version_register(dataset=dataset, data=data)


def _many(value: Any) -> list[Any]:
    """A JSON-LD property of cardinality MANY: absent, one value, or a list of them."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _types(node: dict[str, Any]) -> set[str]:
    return {value for value in _many(node.get("@type")) if isinstance(value, str)}


def _text(node: dict[str, Any], key: str, path: str, *, required: bool = False) -> str:
    """A text property. A language map ({"en": "…"}, as Croissant 1.1 allows) gives its
    English text, or its first."""
    where = f"{path}.{key}" if path else key
    value = node.get(key)
    if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        value = value.get("en", next(iter(value.values())))
    if value is None or value == "":
        if required:
            raise InvalidCroissant(where, "required", f"{key} is required")
        return ""
    if not isinstance(value, str):
        raise InvalidCroissant(where, "not_text", f"{key} is text")
    return value


def _strings(node: dict[str, Any], key: str) -> list[str]:
    values = _many(node.get(key))
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise InvalidCroissant(f"{key}[{index}]", "not_text", f"{key} holds text")
    return values


def _license(value: Any) -> str:
    """License is a URL, a name or a CreativeWork, one or several."""
    names = []
    for index, item in enumerate(_many(value)):
        if isinstance(item, dict):
            item = item.get("url") or item.get("name") or item.get("@id")
        if not isinstance(item, str):
            raise InvalidCroissant(
                f"license[{index}]",
                "invalid_license",
                "a license is a URL, a name or a CreativeWork",
            )
        names.append(item)
    return ", ".join(names)


def _digest(files: list[Any]) -> str:
    """The version digest, when every file that has a checksum has the same one.

    Hugging Face's cards put a URL in `sha256` for git repositories, whose content has no
    one checksum: such a value is read as "no checksum", anything else must be hex."""
    found = set()
    for index, file in enumerate(files):
        path = f"distribution[{index}]"
        if not isinstance(file, dict):
            raise InvalidCroissant(path, "not_an_object", "a file is a JSON object")
        if not _types(file) & {"cr:FileObject", "cr:FileSet", "sc:FileObject", "sc:FileSet"}:
            raise InvalidCroissant(
                f"{path}.@type", "invalid_type", "@type is cr:FileObject or cr:FileSet"
            )
        checksum = file.get("sha256")
        if checksum is None or (isinstance(checksum, str) and checksum.startswith("http")):
            continue
        if not isinstance(checksum, str) or not SHA256_HEX.match(checksum):
            raise InvalidCroissant(
                f"{path}.sha256", "invalid_sha256", "sha256 is 64 hexadecimal digits"
            )
        found.add(checksum.lower())
    return f"sha256:{found.pop()}" if len(found) == 1 else ""


def _fields(record_sets: list[Any]) -> list[dict[str, str]]:
    """The fields of all record sets; with more than one, each name is qualified by its
    record set's (`default/label`)."""
    fields = []
    for index, record_set in enumerate(record_sets):
        path = f"recordSet[{index}]"
        if not isinstance(record_set, dict):
            raise InvalidCroissant(path, "not_an_object", "a record set is a JSON object")
        prefix = ""
        if len(record_sets) > 1:
            prefix = _text(record_set, "name", path) or str(record_set.get("@id") or index)
            prefix += "/"
        for position, field in enumerate(_many(record_set.get("field"))):
            field_path = f"{path}.field[{position}]"
            if not isinstance(field, dict):
                raise InvalidCroissant(field_path, "not_an_object", "a field is a JSON object")
            fields.append(
                {
                    "name": prefix + _text(field, "name", field_path, required=True),
                    "type": _field_type(field.get("dataType"), f"{field_path}.dataType"),
                    "description": _text(field, "description", field_path),
                }
            )
    return fields


def _field_type(value: Any, path: str) -> str:
    """Lup's name for a field's data type: the first of several, sc:Integer as "integer";
    a type Lup has no name for is kept as the card gives it."""
    types = _many(value)
    if not types:
        return ""
    first = types[0]
    if not isinstance(first, str):
        raise InvalidCroissant(path, "invalid_data_type", "dataType is a type name")
    compact = first
    for prefix in ("https://schema.org/", "http://schema.org/"):
        if first.startswith(prefix):
            compact = "sc:" + first.removeprefix(prefix)
    if ":" not in compact:
        compact = "sc:" + compact  # the context's @vocab is schema.org
    synonyms = FIELD_TYPES.get(compact)
    return synonyms[0] if synonyms else first
