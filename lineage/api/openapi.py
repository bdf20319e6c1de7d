"""How the OpenAPI document describes lineage's bodies that are built or read as dicts: the
graph in Marquez's shape, an OpenLineage event and what it became, the cross-border flows,
PROV-JSON, Croissant cards and lineage manifests (their examples are in `examples.py`).

These serializers only document; the views answer what the selectors return. Where a key is
a Python keyword (`from`), the serializer is made with `type`.
"""

from drf_spectacular.utils import extend_schema_field
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


class TransformationSerializer(serializers.Serializer):
    """How an input field affects the output (`columnLineage` facet 1-2-0)."""

    type = serializers.CharField(required=False, help_text="DIRECT or INDIRECT.")
    subtype = serializers.CharField(required=False, help_text="FILTER, JOIN, GROUP_BY, SORT…")
    description = serializers.CharField(required=False)
    masking = serializers.BooleanField(required=False)


class DatasetWideInputFieldSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    dataset = serializers.CharField()
    field = serializers.CharField()
    transformations = TransformationSerializer(many=True)


class DatasetWideSerializer(serializers.Serializer):
    """A dataset and the input fields that shape all of it (the facet's `dataset` list)."""

    id = serializers.CharField(help_text="The dataset's node id.")
    namespace = serializers.CharField()
    name = serializers.CharField()
    inputFields = DatasetWideInputFieldSerializer(many=True)


class LineageGraphSerializer(serializers.Serializer):
    """Marquez's LineageGraph, with Lup's additions under keys of their own."""

    graph = LineageNodeSerializer(many=True, help_text="Datasets and jobs (or fields).")
    datasetWide = DatasetWideSerializer(
        many=True,
        required=False,
        help_text="Column lineage only: input fields that shape every row of a dataset reached "
        "(a filter, a join key), as the `columnLineage` facet's `dataset` list sends them; the "
        "graph shows each as an INDIRECT input of every output field.",
    )
    models = LineageNodeSerializer(
        many=True, required=False, help_text="Model versions reached, with their edges."
    )
    truncated = serializers.BooleanField(
        required=False, help_text="The node budget (LUP_LINEAGE_MAX_NODES) was reached."
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
