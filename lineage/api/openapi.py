"""How the OpenAPI document describes lineage's answers that are built as dicts: the graph in
Marquez's shape, what an OpenLineage event became, the cross-border flows and PROV-JSON.

These serializers only document; the views answer what the selectors return. Where a key is
a Python keyword (`from`), the serializer is made with `type`.
"""

from drf_spectacular.utils import OpenApiExample, extend_schema_field
from rest_framework import serializers

from lineage.models import RunState

# --- the graph ------------------------------------------------------------------------------


class LineageEdgeSerializer(serializers.Serializer):
    origin = serializers.CharField(help_text="The node the edge leaves.")
    destination = serializers.CharField(help_text="The node it reaches.")


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "By `type`: Marquez's DatasetData (`DATASET`) or JobData (`JOB`) "
        "(lineage/schemas/marquez/openapi-lineage.yml), the model's name, version and markets "
        "(`MODEL`), or the field's dataset, type and input fields (`DATASET_FIELD`).",
    }
)
class NodeDataField(serializers.JSONField):
    pass


class LineageNodeSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="`dataset:<namespace>:<name>`, `job:…`, `model:…`")
    type = serializers.ChoiceField(choices=["DATASET", "JOB", "MODEL", "DATASET_FIELD"])
    data = NodeDataField()
    inEdges = LineageEdgeSerializer(many=True)
    outEdges = LineageEdgeSerializer(many=True)


class LineageGraphSerializer(serializers.Serializer):
    """Marquez's LineageGraph, with Lup's additions under keys of their own."""

    graph = LineageNodeSerializer(many=True, help_text="Datasets and jobs (or fields).")
    models = LineageNodeSerializer(
        many=True, required=False, help_text="Model versions reached, with their edges."
    )
    truncated = serializers.BooleanField(
        required=False, help_text="The node budget (LUP_LINEAGE_MAX_NODES) was reached."
    )


GRAPH_EXAMPLE = OpenApiExample(
    "A dataset and the job that read it",
    value={
        "graph": [
            {
                "id": "dataset:s3://sea-chat-raw-sg:chat-logs",
                "type": "DATASET",
                "data": {
                    "id": {"namespace": "s3://sea-chat-raw-sg", "name": "chat-logs"},
                    "type": "DB_TABLE",
                    "name": "chat-logs",
                    "physicalName": "chat-logs",
                    "namespace": "s3://sea-chat-raw-sg",
                    "sourceName": "s3://sea-chat-raw-sg",
                    "fields": [],
                    "tags": [],
                    "currentVersion": "2024-06-01",
                },
                "inEdges": [],
                "outEdges": [
                    {
                        "origin": "dataset:s3://sea-chat-raw-sg:chat-logs",
                        "destination": "job:sea-chat:clean-chats",
                    }
                ],
            },
            {
                "id": "job:sea-chat:clean-chats",
                "type": "JOB",
                "data": {
                    "id": {"namespace": "sea-chat", "name": "clean-chats"},
                    "type": "BATCH",
                    "name": "clean-chats",
                    "simpleName": "clean-chats",
                    "namespace": "sea-chat",
                    "inputs": [{"namespace": "s3://sea-chat-raw-sg", "name": "chat-logs"}],
                    "outputs": [],
                },
                "inEdges": [
                    {
                        "origin": "dataset:s3://sea-chat-raw-sg:chat-logs",
                        "destination": "job:sea-chat:clean-chats",
                    }
                ],
                "outEdges": [],
            },
        ],
        "models": [],
        "truncated": False,
    },
    response_only=True,
)

COLUMN_EXAMPLE = OpenApiExample(
    "A field and the one it was made from",
    value={
        "graph": [
            {
                "id": "datasetField:postgres://pg.hcm.internal:5432:chat.cleaned_messages:prompt",
                "type": "DATASET_FIELD",
                "data": {
                    "namespace": "postgres://pg.hcm.internal:5432",
                    "dataset": "chat.cleaned_messages",
                    "field": "prompt",
                    "fieldType": "string",
                    "inputFields": [
                        {
                            "namespace": "s3://sea-chat-raw-sg",
                            "dataset": "chat-logs",
                            "field": "text",
                        }
                    ],
                },
                "inEdges": [
                    {
                        "origin": "datasetField:s3://sea-chat-raw-sg:chat-logs:text",
                        "destination": "datasetField:postgres://pg.hcm.internal:5432"
                        ":chat.cleaned_messages:prompt",
                    }
                ],
                "outEdges": [],
            }
        ]
    },
    response_only=True,
)


# --- what an OpenLineage event became -------------------------------------------------------


class LandedSerializer(serializers.Serializer):
    """One input or output of an event: the name sent, the node it landed on (a `symlinks`
    alias lands on its dataset) and the version, by name and id, it became."""

    namespace = serializers.CharField()
    name = serializers.CharField()
    dataset = serializers.CharField(required=False, help_text="A dataset's node id.")
    model = serializers.CharField(required=False, help_text="A model's node id.")
    version = serializers.CharField()
    id = serializers.UUIDField()


class LandedVersionsSerializer(serializers.Serializer):
    inputs = LandedSerializer(many=True, required=False, help_text="A RunEvent's inputs.")
    outputs = LandedSerializer(many=True, required=False, help_text="A RunEvent's outputs.")
    dataset = LandedSerializer(many=True, required=False, help_text="A DatasetEvent's dataset.")


class LineageEventAnswerSerializer(serializers.Serializer):
    event = serializers.ChoiceField(choices=["run", "dataset", "job"])
    digest = serializers.CharField(help_text="sha256 of the event as received.")
    run_id = serializers.UUIDField(required=False, help_text="A RunEvent's.")
    event_type = serializers.CharField(required=False, help_text="A RunEvent's (OTHER if none).")
    namespace = serializers.CharField(required=False, help_text="A DatasetEvent's or JobEvent's.")
    name = serializers.CharField(required=False)
    schema = serializers.CharField(help_text="The OpenLineage core version it was checked against.")
    warnings = serializers.ListField(
        child=serializers.CharField(), help_text="What Marquez accepts but the spec does not."
    )
    duplicate = serializers.BooleanField(help_text="The same event was recorded before.")
    versions = LandedVersionsSerializer(help_text="Empty for a JobEvent.")


@extend_schema_field({"type": "object", "additionalProperties": True})
class FacetsField(serializers.JSONField):
    """Facets by name, as OpenLineage defines them; stored verbatim when not vendored."""


class LineageDatasetSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    facets = FacetsField(required=False)
    inputFacets = FacetsField(required=False)
    outputFacets = FacetsField(required=False)


class LineageRunSerializer(serializers.Serializer):
    runId = serializers.UUIDField()
    facets = FacetsField(required=False)


class LineageJobSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    facets = FacetsField(required=False)


class LineageEventSerializer(serializers.Serializer):
    """An OpenLineage RunEvent (`run`, `job`, `eventType`, `inputs`, `outputs`), DatasetEvent
    (`dataset`) or JobEvent (`job`, `inputs`, `outputs`), checked against the core version its
    `schemaURL` names (lineage/schemas/openlineage/)."""

    eventType = serializers.ChoiceField(choices=RunState.choices, required=False)
    eventTime = serializers.DateTimeField(required=False)
    producer = serializers.URLField(required=False)
    schemaURL = serializers.URLField(required=False)
    run = LineageRunSerializer(required=False)
    job = LineageJobSerializer(required=False)
    dataset = LineageDatasetSerializer(required=False)
    inputs = LineageDatasetSerializer(many=True, required=False)
    outputs = LineageDatasetSerializer(many=True, required=False)


RUN_ID = "3f5c2f0e-8d1a-4b6e-9c3d-2a1b0c9d8e7f"
EVENT_EXAMPLES = [
    OpenApiExample(
        "A run's start",
        value={
            "eventType": "START",
            "eventTime": "2026-11-01T02:00:00Z",
            "producer": "https://github.com/example/khmer-eval",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": RUN_ID},
            "job": {"namespace": "jobs", "name": "clean"},
            "inputs": [{"namespace": "s3://ml-data", "name": "raw/chats"}],
            "outputs": [{"namespace": "s3://ml-data", "name": "clean/chats"}],
        },
        request_only=True,
    ),
    OpenApiExample(
        "What it became",
        value={
            "event": "run",
            "digest": "sha256:" + "5d" * 32,
            "run_id": RUN_ID,
            "event_type": "START",
            "schema": "2-0-2",
            "warnings": [],
            "duplicate": False,
            "versions": {
                "inputs": [
                    {
                        "namespace": "s3://ml-data",
                        "name": "raw/chats",
                        "dataset": "dataset:s3://ml-data:raw/chats",
                        "version": "1",
                        "id": "6a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
                    }
                ],
                "outputs": [
                    {
                        "namespace": "s3://ml-data",
                        "name": "clean/chats",
                        "dataset": "dataset:s3://ml-data:clean/chats",
                        "version": f"run-{RUN_ID}",
                        "id": "7b2f3c4d-5e6f-4a71-8b9c-0d1e2f3a4b5c",
                    }
                ],
            },
        },
        response_only=True,
    ),
]


# --- cross-border flows ---------------------------------------------------------------------


class TransferPlaceSerializer(serializers.Serializer):
    dataset = serializers.CharField(help_text="`<namespace>:<name>`")
    version = serializers.CharField()
    version_id = serializers.UUIDField()
    country = serializers.CharField()
    system = serializers.CharField()
    uri = serializers.CharField()


class TransferRuleSerializer(serializers.Serializer):
    """The cross-border rule of the country the data leaves."""

    country = serializers.CharField()
    mechanism = serializers.CharField(allow_null=True)
    level = serializers.IntegerField(allow_null=True)
    summary = serializers.CharField()
    sources = serializers.ListField(child=serializers.CharField())
    unconfirmed = serializers.BooleanField()


TransferFlowSerializer = type(
    "TransferFlowSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "Data moving between countries: a run reading in one and writing in "
        "another (`run`), or one version stored in two (`copy`).",
        "kind": serializers.ChoiceField(choices=["run", "copy"]),
        "run_id": serializers.UUIDField(required=False),
        "job": serializers.CharField(required=False, help_text="`<namespace>:<name>`"),
        "from": TransferPlaceSerializer(),
        "to": TransferPlaceSerializer(),
        "basis_recorded": serializers.BooleanField(),
        "basis": serializers.CharField(allow_null=True),
        "rule": TransferRuleSerializer(allow_null=True),
    },
)


class TransferReportSerializer(serializers.Serializer):
    flows = TransferFlowSerializer(many=True)


def _place(version: str, country: str, uri: str) -> dict:
    return {
        "dataset": "s3://sea-chat-raw-sg:chat-logs" if country == "SG" else "pg:chat.cleaned",
        "version": version,
        "version_id": "0d6e9c1a-7b2f-4e38-8a5c-1f2e3d4c5b6a",
        "country": country,
        "system": "s3" if country == "SG" else "postgres",
        "uri": uri,
    }


TRANSFER_EXAMPLE = OpenApiExample(
    "Chats cleaned in Vietnam from logs stored in Singapore",
    value={
        "flows": [
            {
                "kind": "run",
                "run_id": "e7ddaa6f-9a98-4973-9746-8c573e198af4",
                "job": "sea-chat:clean-chats",
                "from": _place("2024-06-01", "SG", "s3://sea-chat-raw-sg/chat-logs/"),
                "to": _place("2024-06-02", "VN", "postgres://pg.hcm.internal:5432/chat"),
                "basis_recorded": True,
                "basis": "consent (privacy notice v3)",
                "rule": {
                    "country": "SG",
                    "mechanism": "comparable_protection",
                    "level": 2,
                    "summary": "Transfers need comparable protection (PDPA s26).",
                    "sources": ["PDPA 2012, s26"],
                    "unconfirmed": False,
                },
            }
        ]
    },
)


# --- W3C PROV-JSON --------------------------------------------------------------------------

_LITERAL = {
    "type": "object",
    "properties": {
        "$": {"type": "string"},
        "type": {"type": "string", "description": "e.g. xsd:dateTime, prov:QUALIFIED_NAME"},
        "lang": {"type": "string"},
    },
}
_VALUE = {
    "oneOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        _LITERAL,
        {"type": "array", "items": {"oneOf": [{"type": "string"}, _LITERAL]}},
    ]
}


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "object", "additionalProperties": _VALUE},
        "description": "Records by identifier, each its attributes by qualified name.",
    }
)
class ProvRecordsField(serializers.JSONField):
    pass


class ProvDocumentSerializer(serializers.Serializer):
    """W3C PROV-JSON (https://www.w3.org/submissions/prov-json/): datasets and models as
    entities, runs as activities, jobs as agents."""

    prefix = serializers.DictField(child=serializers.CharField(), required=False)
    entity = ProvRecordsField(required=False)
    activity = ProvRecordsField(required=False)
    agent = ProvRecordsField(required=False)
    used = ProvRecordsField(required=False)
    wasGeneratedBy = ProvRecordsField(required=False)
    wasDerivedFrom = ProvRecordsField(required=False)
    wasAssociatedWith = ProvRecordsField(required=False)
    wasAttributedTo = ProvRecordsField(required=False)
    wasInformedBy = ProvRecordsField(required=False)


PROV_EXAMPLE = OpenApiExample(
    "A version read by a run",
    value={
        "prefix": {"lup": "https://lup.dev/ns/lineage#"},
        "entity": {
            "lup:version-6a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b": {
                "prov:label": "s3://ml-data:raw/chats@1",
                "lup:dataset": "s3://ml-data:raw/chats",
                "lup:version": "1",
                "lup:digest": "",
            }
        },
        "activity": {
            "lup:run-3f5c2f0e-8d1a-4b6e-9c3d-2a1b0c9d8e7f": {
                "prov:startTime": "2026-11-01T02:00:00+00:00",
                "prov:label": "jobs:clean",
                "lup:state": "COMPLETE",
            }
        },
        "agent": {
            "lup:job-jobs_clean": {"prov:type": {"$": "prov:Plan", "type": "prov:QUALIFIED_NAME"}}
        },
        "used": {
            "_:id1": {
                "prov:activity": "lup:run-3f5c2f0e-8d1a-4b6e-9c3d-2a1b0c9d8e7f",
                "prov:entity": "lup:version-6a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
            }
        },
    },
)


# --- Croissant cards ------------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {"@id": {"type": "string"}, "@type": {"type": "string"}},
                },
            ]
        },
        "description": "JSON-LD context: term → IRI, or term → {@id, @type}.",
    }
)
class JsonLdContextField(serializers.JSONField):
    pass


def _serializer(name: str, doc: str, fields: dict) -> type[serializers.Serializer]:
    """A serializer whose keys are not Python names (`@type`, `rai:dataUseCases`)."""
    return type(name, (serializers.Serializer,), {"__doc__": doc, **fields})


def _text(**kwargs) -> serializers.CharField:
    return serializers.CharField(required=False, **kwargs)


CroissantFileSerializer = _serializer(
    "CroissantFileSerializer",
    "A storage location as a `cr:FileObject` (a file, with its sha256) or a `cr:FileSet` (a "
    "glob of files).",
    {
        "@type": serializers.ChoiceField(choices=["cr:FileObject", "cr:FileSet"], required=False),
        "@id": _text(),
        "name": _text(),
        "description": _text(),
        "encodingFormat": _text(help_text="a media type"),
        "contentUrl": _text(),
        "includes": _text(help_text="a glob"),
        "sha256": _text(help_text="hex"),
    },
)
CroissantFieldSerializer = _serializer(
    "CroissantFieldSerializer",
    "One column: its name, schema.org data type and where it is read from.",
    {
        "@type": _text(),
        "@id": _text(),
        "name": _text(),
        "description": _text(),
        "dataType": _text(help_text="e.g. sc:Text, sc:Integer"),
        "source": _serializer(
            "CroissantFieldSourceSerializer",
            "The file (or file set) and column the field is extracted from.",
            {
                "fileObject": _serializer(
                    "CroissantRefSerializer", "A reference by id.", {"@id": _text()}
                )(required=False),
                "fileSet": _serializer(
                    "CroissantSetRefSerializer", "A reference by id.", {"@id": _text()}
                )(required=False),
                "extract": _serializer(
                    "CroissantExtractSerializer", "The column read.", {"column": _text()}
                )(required=False),
            },
        )(required=False),
    },
)
CroissantRecordSetSerializer = _serializer(
    "CroissantRecordSetSerializer",
    "The version's schema as a record set.",
    {
        "@type": _text(),
        "@id": _text(),
        "name": _text(),
        "field": CroissantFieldSerializer(many=True, required=False),
    },
)
CroissantCardSerializer = _serializer(
    "CroissantCardSerializer",
    "An MLCommons Croissant 1.0 dataset card (JSON-LD), with the Responsible AI vocabulary.",
    {
        "@context": JsonLdContextField(required=False),
        "@type": _text(help_text="sc:Dataset"),
        "conformsTo": _text(),
        "name": _text(),
        "description": _text(),
        "license": _text(),
        "url": _text(),
        "version": _text(),
        "datePublished": _text(help_text="ISO 8601 date"),
        "inLanguage": serializers.ListField(child=serializers.CharField(), required=False),
        "distribution": CroissantFileSerializer(many=True, required=False),
        "recordSet": CroissantRecordSetSerializer(many=True, required=False),
        "rai:dataUseCases": serializers.ListField(
            child=serializers.CharField(), required=False, help_text="The version's purposes."
        ),
        "rai:personalSensitiveInformation": serializers.ListField(
            child=serializers.CharField(),
            required=False,
            help_text="Its fideslang data categories.",
        ),
    },
)

CARD_EXAMPLE = OpenApiExample(
    "An evaluation set's card",
    media_type="application/ld+json",
    value={
        "@context": {"@vocab": "https://schema.org/", "cr": "http://mlcommons.org/croissant/"},
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": "khm-vie-qa",
        "description": "Khmer and Vietnamese support questions with reference answers.",
        "license": "CC-BY-NC-4.0",
        "version": "v1",
        "datePublished": "2024-06-03",
        "inLanguage": ["km", "vi"],
        "distribution": [
            {
                "@type": "cr:FileObject",
                "@id": "s3-1",
                "name": "s3-1",
                "description": "s3 in KH",
                "encodingFormat": "application/jsonlines",
                "contentUrl": "s3://sea-evals-kh/khm-vie-qa/v1/qa.jsonl",
                "sha256": "642a" + "0" * 56 + "8fb8",
            }
        ],
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "records",
                "name": "records",
                "field": [
                    {
                        "@type": "cr:Field",
                        "@id": "records/question",
                        "name": "question",
                        "dataType": "sc:Text",
                        "source": {
                            "fileObject": {"@id": "s3-1"},
                            "extract": {"column": "question"},
                        },
                    }
                ],
            }
        ],
        "rai:dataUseCases": ["train_ai_system.evaluation"],
        "rai:personalSensitiveInformation": ["user.content"],
    },
)


# --- dataset versions -----------------------------------------------------------------------


class SchemaFieldSerializer(serializers.Serializer):
    """One column or field, as OpenLineage's schema facet names it (other keys are kept)."""

    name = serializers.CharField(required=False)
    type = serializers.CharField(required=False)
    description = serializers.CharField(required=False)


@extend_schema_field(SchemaFieldSerializer(many=True))
class SchemaFieldsField(serializers.ListField):
    """Taken and answered as given: the document names the keys clients use."""

    child = serializers.DictField()


# --- lineage manifests ----------------------------------------------------------------------


def _refs(help_text: str) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(), required=False, help_text=help_text)


class ManifestLocationSerializer(serializers.Serializer):
    system = serializers.CharField()
    uri = serializers.CharField()
    country = serializers.CharField(help_text="ISO 3166-1 alpha-2")
    region = serializers.CharField(required=False)
    provider = serializers.CharField(required=False)
    transfer_basis = serializers.CharField(required=False)


class ManifestVersionSerializer(serializers.Serializer):
    version = serializers.CharField()
    digest = serializers.CharField(required=False, help_text="sha256:<64 hex digits>")
    record_count = serializers.IntegerField(required=False, min_value=0)
    schema = SchemaFieldsField(required=False)
    data_categories = _refs("fideslang data category keys")
    purposes = _refs("purpose keys")
    languages = _refs("ISO 639 codes")
    origin = serializers.CharField(required=False)
    locations = ManifestLocationSerializer(many=True, required=False)


class ManifestDatasetSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(required=False)
    license = serializers.CharField(required=False)
    versions = ManifestVersionSerializer(many=True, required=False)


class ManifestRunSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=RunState.choices)
    started_at = serializers.DateTimeField(required=False)
    ended_at = serializers.DateTimeField(required=False)
    inputs = _refs("`<namespace>:<name>@<version>`")
    outputs = _refs("`<namespace>:<name>@<version>`")


class ManifestJobSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    runs = ManifestRunSerializer(many=True, required=False)


class ManifestModelVersionSerializer(serializers.Serializer):
    version = serializers.CharField()
    trained_on = _refs("dataset versions, `<namespace>:<name>@<version>`")
    fine_tuned_on = _refs("dataset versions")
    evaluated_on = _refs("dataset versions")
    fine_tuned_from = serializers.CharField(required=False, help_text="a model version")
    created_by_run = serializers.UUIDField(required=False)
    markets = _refs("ISO 3166-1 alpha-2 codes")


class ManifestModelSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    versions = ManifestModelVersionSerializer(many=True, required=False)


class ManifestSerializer(serializers.Serializer):
    """A lineage manifest (lineage/examples/manifest.yaml, README "Lineage manifest"); unknown
    keys are refused (`unknown_key`)."""

    manifest_version = serializers.ChoiceField(choices=[1], required=False)
    datasets = ManifestDatasetSerializer(many=True, required=False)
    jobs = ManifestJobSerializer(many=True, required=False)
    models = ManifestModelSerializer(many=True, required=False)


MANIFEST_EXAMPLE = {
    "manifest_version": 1,
    "datasets": [
        {
            "namespace": "s3://sea-evals-kh",
            "name": "khm-vie-qa",
            "versions": [
                {
                    "version": "v1",
                    "data_categories": ["user.content"],
                    "purposes": ["train_ai_system.evaluation"],
                    "locations": [
                        {"system": "s3", "uri": "s3://sea-evals-kh/khm-vie-qa/v1/", "country": "KH"}
                    ],
                }
            ],
        }
    ],
    "models": [
        {
            "namespace": "sea-chat",
            "name": "khm-vie-assistant",
            "versions": [{"version": "1.0.0", "evaluated_on": ["s3://sea-evals-kh:khm-vie-qa@v1"]}],
        }
    ],
}


# --- datasets, versions, locations, models --------------------------------------------------

VERSION_ID = "5b0c2a8e-3f41-4c7e-9d0a-6f1e2b3c4d5e"
LOCATION = {
    "system": "s3",
    "uri": "s3://sea-evals-kh/khm-vie-qa/v1/",
    "country": "KH",
    "region": "phnom-penh",
    "provider": "sabay-cloud",
    "transfer_basis": "",
}
VERSION_IN = {
    "namespace": "s3://sea-evals-kh",
    "name": "khm-vie-qa",
    "version": "v1",
    "digest": "sha256:642a" + "0" * 56 + "8fb8",
    "record_count": 4200,
    "schema_fields": [
        {"name": "question", "type": "string", "description": "The user's turn"},
        {"name": "email", "type": "string"},
    ],
    "data_categories": ["user.content", "user.contact.email"],
    "purposes": ["train_ai_system.evaluation"],
    "languages": ["km", "vi"],
    "locations": [LOCATION],
}
VERSION_OUT = {
    "id": VERSION_ID,
    "dataset": "dataset:s3://sea-evals-kh:khm-vie-qa",
    **{key: VERSION_IN[key] for key in ("version", "digest", "record_count", "schema_fields")},
    **{key: VERSION_IN[key] for key in ("data_categories", "purposes", "languages")},
    "origin": "",
    "membership_declared": True,
    "created_at": "2026-11-01T02:00:00Z",
    "locations": [LOCATION],
}
VERSION_EXAMPLES = [
    OpenApiExample("An evaluation set stored in Cambodia", value=VERSION_IN, request_only=True),
    OpenApiExample(
        "Registered (201), or the same content again (200)",
        value=VERSION_OUT,
        response_only=True,
        status_codes=["201", "200"],
    ),
]
VERSION_EXAMPLE = OpenApiExample("A version", value=VERSION_OUT, response_only=True)
VERSIONS_EXAMPLE = OpenApiExample(
    "Written by a run",
    value={
        "dataset": "dataset:s3://sea-evals-kh:khm-vie-qa",
        "versions": [
            {
                **VERSION_OUT,
                "created_by_run": {
                    "runId": "3f5c2f0e-8d1a-4b6e-9c3d-2a1b0c9d8e7f",
                    "job": "job:khmer-eval:build-qa-set",
                    "state": "COMPLETE",
                },
            }
        ],
    },
    response_only=True,
)
LOCATION_EXAMPLES = [
    OpenApiExample(
        "A copy in Singapore",
        value={
            "system": "gcs",
            "uri": "gs://sea-evals-sg/khm-vie-qa/v1/",
            "country": "SG",
            "transfer_basis": "contract (standard clauses, 2026-03)",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Added",
        value={
            "system": "gcs",
            "uri": "gs://sea-evals-sg/khm-vie-qa/v1/",
            "country": "SG",
            "region": "",
            "provider": "",
            "transfer_basis": "contract (standard clauses, 2026-03)",
        },
        response_only=True,
    ),
]
DATASET_EXAMPLES = [
    OpenApiExample(
        "A dataset",
        value={
            "namespace": "s3://sea-evals-kh",
            "name": "khm-vie-qa",
            "description": "Khmer and Vietnamese support questions with reference answers.",
            "license": "CC-BY-NC-4.0",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Registered",
        value={
            "id": "dataset:s3://sea-evals-kh:khm-vie-qa",
            "namespace": "s3://sea-evals-kh",
            "name": "khm-vie-qa",
            "description": "Khmer and Vietnamese support questions with reference answers.",
            "license": "CC-BY-NC-4.0",
        },
        response_only=True,
    ),
]
MODEL_EXAMPLES = [
    OpenApiExample(
        "Evaluated on the set, deployed to Cambodia and Vietnam",
        value={
            "namespace": "sea-chat",
            "name": "khm-vie-assistant",
            "version": "1.0.0",
            "trained_on": ["0d6e9c1a-7b2f-4e38-8a5c-1f2e3d4c5b6a"],
            "evaluated_on": [VERSION_ID],
            "markets": ["KH", "VN"],
        },
        request_only=True,
    ),
    OpenApiExample(
        "Registered",
        value={
            "id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
            "model": "model:sea-chat:khm-vie-assistant",
            "version": "1.0.0",
        },
        response_only=True,
    ),
]
PICTURE_EXAMPLE = OpenApiExample(
    "A picture",
    value='<svg xmlns="http://www.w3.org/2000/svg" width="640" height="240">…</svg>',
    media_type="image/svg+xml",
    response_only=True,
)
