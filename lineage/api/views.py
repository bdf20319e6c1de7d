import json

from django.db import models
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access import scopes
from core.errors import ApplicationError, NotFound
from core.openapi import ERROR
from lineage import selectors, services
from lineage.api import examples
from lineage.api.openapi import (
    LineageEventAnswerSerializer,
    LineageEventSerializer,
    LineageGraphSerializer,
    ManifestSerializer,
    ProvDocumentSerializer,
    SchemaFieldsField,
    TransferReportSerializer,
)
from lineage.manifest import manifest_load, manifest_register
from lineage.models import DatasetVersion
from lineage.openlineage import ingest_event
from lineage.picture import neighbourhood_svg
from lineage.prov import prov_document
from lineage.services import LocationInput, VersionInput
from lineage.transfers import transfer_report

NODE_PARAMETERS = [
    OpenApiParameter(
        "nodeId", str, required=True, description="dataset:<namespace>:<name>, job:… or model:…"
    ),
    OpenApiParameter("depth", int, description="edges to walk, 0 to 50 (default 20)"),
]


GRAPH_PARAMETERS = [
    NODE_PARAMETERS[0],
    OpenApiParameter(
        "depth",
        int,
        description="job hops to walk, as Marquez counts them (default 20); the answer stops "
        "at LUP_LINEAGE_MAX_NODES nodes, nearest first, with truncated: true",
    ),
]
# Depth is bounded by the node budget, not by itself; this only keeps it a sane integer.
MAX_DEPTH_PARAMETER = 1_000_000


def _node_query(request, default_depth: int = 20) -> tuple[str, int]:
    node_id = request.query_params.get("nodeId", "")
    depth = request.query_params.get("depth", str(default_depth))
    if not (depth.isascii() and depth.isdigit()) or int(depth) > MAX_DEPTH_PARAMETER:
        raise ApplicationError(
            f"depth is a whole number up to {MAX_DEPTH_PARAMETER}.", code="invalid_depth"
        )
    return node_id, int(depth)


def _version(version_id) -> DatasetVersion:
    version = DatasetVersion.objects.filter(pk=version_id).select_related("dataset").first()
    if version is None:
        raise NotFound("No such dataset version.", code="unknown_version")
    return version


class LineageApi(APIView):
    """GET: the graph around a node, upstream and downstream, in Marquez's shape.
    POST: an OpenLineage RunEvent, DatasetEvent or JobEvent (gzip accepted)."""

    required_scope = {"GET": scopes.LINEAGE_READ, "POST": scopes.LINEAGE_WRITE}
    parser_classes: list = []

    @extend_schema(
        parameters=GRAPH_PARAMETERS,
        responses={200: LineageGraphSerializer, 400: ERROR, 404: ERROR},
        examples=[examples.GRAPH_EXAMPLE],
        description="Marquez's LineageGraph: nodes with DatasetData and JobData, edges between "
        "datasets and jobs; Lup's additions under their own keys: `models` (model nodes and "
        "their edges) and `truncated` (the node budget was reached). A datasetField: id "
        "answers with the column-lineage graph.",
    )
    def get(self, request):
        node_id, depth = _node_query(request)
        if node_id.startswith(selectors.FIELD_PREFIX):
            return Response(selectors.column_lineage(node_id=node_id, depth=depth))
        return Response(selectors.graph(node_id=node_id, depth=depth))

    @extend_schema(
        request={"application/json": LineageEventSerializer},
        responses={201: LineageEventAnswerSerializer, 400: ERROR, 409: ERROR},
        examples=examples.EVENT_EXAMPLES,
        description="Answers with the event's digest, `schema` (the OpenLineage core version "
        "it was checked against), `warnings` (what Marquez accepts but the spec does not: no "
        "schemaURL, a naive eventTime read as UTC, facets without _producer/_schemaURL), "
        "`duplicate`, and `versions`: for a RunEvent `{inputs, outputs}`, for a DatasetEvent "
        "`{dataset}`, each entry the namespace and name sent, the node it landed on, and the "
        "version name and id it became.",
    )
    def post(self, request):
        summary = ingest_event(
            raw=request.body, content_encoding=request.headers.get("Content-Encoding", "")
        )
        return Response(summary, status=status.HTTP_201_CREATED)


class ColumnLineageApi(APIView):
    """The column lineage around a dataset field (`datasetField:<namespace>:<name>:<field>`)
    or every field of a dataset (`dataset:<namespace>:<name>`), upstream and, with
    `withDownstream=true`, downstream: Marquez's GET /api/v1/column-lineage."""

    required_scope = scopes.LINEAGE_READ

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "nodeId",
                str,
                required=True,
                description="datasetField:<namespace>:<name>:<field> or dataset:<namespace>:<name>",
            ),
            OpenApiParameter("depth", int, description="column edges to walk (default 20)"),
            OpenApiParameter("withDownstream", bool, description="also walk downstream"),
        ],
        responses={200: LineageGraphSerializer, 400: ERROR, 404: ERROR},
        examples=[examples.COLUMN_EXAMPLE],
    )
    def get(self, request):
        node_id, depth = _node_query(request)
        downstream = request.query_params.get("withDownstream", "false").lower()
        if downstream not in ("true", "false"):
            raise ApplicationError("withDownstream is true or false.", code="invalid_parameter")
        return Response(
            selectors.column_lineage(
                node_id=node_id, depth=depth, with_downstream=downstream == "true"
            )
        )


class ProvExportApi(APIView):
    """The subgraph around a node as W3C PROV-JSON."""

    required_scope = scopes.LINEAGE_READ

    @extend_schema(
        parameters=NODE_PARAMETERS,
        responses={(200, "application/json"): ProvDocumentSerializer, 404: ERROR},
        examples=[examples.PROV_EXAMPLE],
    )
    def get(self, request):
        node_id, depth = _node_query(request)
        document = prov_document(node_id=node_id, depth=depth)
        return HttpResponse(document.serialize(format="json"), content_type="application/json")


class PictureApi(APIView):
    """A node's neighbourhood as an SVG picture."""

    required_scope = scopes.LINEAGE_READ

    @extend_schema(
        parameters=NODE_PARAMETERS,
        responses={(200, "image/svg+xml"): str, 404: ERROR},
        examples=[examples.PICTURE_EXAMPLE],
    )
    def get(self, request):
        node_id, depth = _node_query(request, default_depth=2)
        return HttpResponse(
            neighbourhood_svg(node_id=node_id, depth=depth), content_type="image/svg+xml"
        )


class TransferReportApi(APIView):
    """Every place where data moves between countries, and whether a basis is recorded."""

    required_scope = scopes.LINEAGE_READ

    @extend_schema(responses=TransferReportSerializer, examples=[examples.TRANSFER_EXAMPLE])
    def get(self, request):
        return Response(transfer_report())


class DatasetCreateApi(APIView):
    required_scope = scopes.LINEAGE_WRITE

    @extend_schema_serializer(component_name="DatasetInput")
    class InputSerializer(serializers.Serializer):
        namespace = serializers.CharField(max_length=500)
        name = serializers.CharField(max_length=500)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        license = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        request=InputSerializer,
        responses={
            201: inline_serializer(
                "Dataset",
                {
                    "id": serializers.CharField(),
                    "namespace": serializers.CharField(),
                    "name": serializers.CharField(),
                    "description": serializers.CharField(),
                    "license": serializers.CharField(),
                },
            )
        },
        examples=examples.DATASET_EXAMPLES,
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = services.dataset_register(**data.validated_data)
        return Response(
            {"id": dataset.node_id, **data.validated_data}, status=status.HTTP_201_CREATED
        )


class ManifestApi(APIView):
    """Register a lineage manifest (YAML or JSON, the format of `lineage/examples/manifest.yaml`)
    as `manage.py lineage_register` does: all of it in one transaction, or, on any bad entry,
    none of it, with every problem named by its path in `fields`. Sending it again adds
    nothing."""

    required_scope = scopes.LINEAGE_WRITE
    parser_classes: list = []

    @extend_schema(
        request={"application/yaml": OpenApiTypes.STR, "application/json": ManifestSerializer},
        responses={
            200: inline_serializer(
                "ManifestRegistered",
                {"added": serializers.DictField(child=serializers.IntegerField())},
            ),
            400: ERROR,
            409: ERROR,
        },
        examples=[
            OpenApiExample("An evaluation set", value=examples.MANIFEST_EXAMPLE, request_only=True),
            OpenApiExample(
                "Registered",
                value={
                    "added": {
                        "datasets": 1,
                        "versions": 1,
                        "locations": 1,
                        "jobs": 0,
                        "runs": 0,
                        "run_datasets": 0,
                        "models": 1,
                        "model_versions": 1,
                        "model_data": 1,
                        "edges": 1,
                    }
                },
                response_only=True,
            ),
        ],
        description="`added`: how many datasets, versions, locations, jobs, runs, run_datasets, "
        "models, model_versions, model_data and edges it added (all 0 the second time). A bad "
        "manifest is 400 `invalid_manifest` with `fields` mapping each entry's path "
        "(`datasets[1].versions[0].locations[0].country`) to its problem's code.",
    )
    def post(self, request):
        document = manifest_load(text=request.body)
        try:
            # JSON's escapes can spell lone surrogates, which no answer naming the entry
            # could carry back; such a document is not text.
            json.dumps(document, default=str, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ApplicationError(
                "The manifest holds a lone surrogate (\\ud800-\\udfff): not text.",
                code="invalid_manifest",
            ) from None
        except (TypeError, ValueError):
            pass  # not JSON's shape (a YAML anchor inside itself): the manifest check says how
        added = manifest_register(document=document)
        return Response({"added": added})


class LocationSerializer(serializers.Serializer):
    system = serializers.CharField(max_length=100)
    uri = serializers.CharField(max_length=1000)
    country = serializers.CharField(max_length=2)
    region = serializers.CharField(required=False, allow_blank=True, default="")
    provider = serializers.CharField(required=False, allow_blank=True, default="")
    transfer_basis = serializers.CharField(required=False, allow_blank=True, default="")


def _strings(help_text: str) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(), read_only=True, help_text=help_text)


class VersionOutSerializer(serializers.ModelSerializer):
    dataset = serializers.SerializerMethodField()
    locations = LocationSerializer(many=True, read_only=True)
    schema_fields = SchemaFieldsField(read_only=True)
    data_categories = _strings("fideslang data category keys.")
    purposes = _strings("Keys of the purposes it may be used for.")
    languages = _strings("ISO 639 codes of the languages its text is in.")

    class Meta:
        model = DatasetVersion
        fields = (
            "id",
            "dataset",
            "version",
            "digest",
            "record_count",
            "schema_fields",
            "data_categories",
            "purposes",
            "languages",
            "origin",
            "membership_declared",
            "created_at",
            "locations",
        )

    def get_dataset(self, obj: DatasetVersion) -> str:
        return obj.dataset.node_id


class VersionCreateApi(APIView):
    """Register a dataset version (immutable: the same content again is accepted, other
    content under the same version is refused with `version_immutable`)."""

    required_scope = scopes.LINEAGE_WRITE

    @extend_schema_serializer(component_name="VersionInput")
    class InputSerializer(serializers.Serializer):
        namespace = serializers.CharField(max_length=500)
        name = serializers.CharField(max_length=500)
        version = serializers.CharField(max_length=200)
        digest = serializers.RegexField(r"^sha256:[0-9a-f]{64}$", required=False, default="")
        record_count = serializers.IntegerField(
            min_value=0,
            max_value=models.BigIntegerField.MAX_BIGINT,
            required=False,
            allow_null=True,
        )
        schema_fields = SchemaFieldsField(required=False, default=list)
        data_categories = serializers.ListField(
            child=serializers.CharField(), required=False, default=list
        )
        purposes = serializers.ListField(
            child=serializers.CharField(), required=False, default=list
        )
        languages = serializers.ListField(
            child=serializers.CharField(max_length=3),
            required=False,
            default=list,
            help_text="ISO 639-1 or 639-3 codes of the languages its text is in (km, vi, fil).",
        )
        origin = serializers.CharField(
            max_length=500,
            required=False,
            default="",
            help_text="Where it came from, when no recorded run made it: a URL, a vendor.",
        )
        locations = LocationSerializer(many=True, required=False, default=list)

    @extend_schema(
        request=InputSerializer,
        responses={200: VersionOutSerializer, 201: VersionOutSerializer, 409: ERROR},
        examples=examples.VERSION_EXAMPLES,
        description="201 with a new version; 200 with the existing one when the same content "
        "is registered again.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        version, created = services.dataset_version_get_or_register(
            namespace=values["namespace"],
            name=values["name"],
            data=VersionInput(
                version=values["version"],
                digest=values["digest"],
                record_count=values.get("record_count"),
                schema_fields=values["schema_fields"],
                data_categories=values["data_categories"],
                purposes=values["purposes"],
                languages=values["languages"],
                origin=values["origin"],
                locations=[LocationInput(**loc) for loc in values["locations"]],
            ),
        )
        return Response(
            VersionOutSerializer(version).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class DatasetVersionsApi(APIView):
    """A dataset's versions, newest first: what each OpenLineage input and output became
    (the `version` facet's name, else "1" for an input, `run-<runId>` for an output), with
    the run that wrote it and that run's last state. The path is `<namespace>/<name>`;
    both may hold slashes (`s3://ml-data/raw/chats`)."""

    required_scope = scopes.LINEAGE_READ

    class OutputSerializer(VersionOutSerializer):
        created_by_run = serializers.SerializerMethodField()

        class Meta(VersionOutSerializer.Meta):
            fields = (*VersionOutSerializer.Meta.fields, "created_by_run")

        @extend_schema_field(
            inline_serializer(
                "VersionRun",
                {
                    "runId": serializers.UUIDField(),
                    "job": serializers.CharField(),
                    "state": serializers.CharField(),
                },
                allow_null=True,
            )
        )
        def get_created_by_run(self, obj: DatasetVersion) -> dict | None:
            run = obj.created_by_run
            if run is None:
                return None
            return {"runId": str(run.run_id), "job": run.job.node_id, "state": run.state}

    @extend_schema(
        responses={
            200: inline_serializer(
                "DatasetVersionList",
                {"dataset": serializers.CharField(), "versions": OutputSerializer(many=True)},
            ),
            400: ERROR,
            404: ERROR,
        },
        examples=[examples.VERSIONS_EXAMPLE],
    )
    def get(self, request, path):
        dataset = selectors.dataset_by_path(path=path)
        versions = selectors.dataset_versions(dataset=dataset)
        return Response(
            {
                "dataset": dataset.node_id,
                "versions": self.OutputSerializer(versions, many=True).data,
            }
        )


class VersionGetApi(APIView):
    required_scope = scopes.LINEAGE_READ

    @extend_schema(responses=VersionOutSerializer, examples=[examples.VERSION_EXAMPLE])
    def get(self, request, version_id):
        return Response(VersionOutSerializer(_version(version_id)).data)


class LocationCreateApi(APIView):
    """Record another place a version's bytes live (a copy, a replica, a cache)."""

    required_scope = scopes.LINEAGE_WRITE

    @extend_schema(
        request=LocationSerializer,
        responses={201: LocationSerializer},
        examples=examples.LOCATION_EXAMPLES,
    )
    def post(self, request, version_id):
        version = _version(version_id)
        data = LocationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        location = services.location_add(
            version=version, location=LocationInput(**data.validated_data)
        )
        return Response(LocationSerializer(location).data, status=status.HTTP_201_CREATED)


class ModelVersionCreateApi(APIView):
    """Register a model version with the dataset versions it was trained, fine-tuned and
    evaluated on (by version id)."""

    required_scope = scopes.LINEAGE_WRITE

    @extend_schema_serializer(component_name="ModelVersionInput")
    class InputSerializer(serializers.Serializer):
        namespace = serializers.CharField(max_length=500)
        name = serializers.CharField(max_length=500)
        version = serializers.CharField(max_length=200)
        trained_on = serializers.ListField(child=serializers.UUIDField(), default=list)
        fine_tuned_on = serializers.ListField(child=serializers.UUIDField(), default=list)
        evaluated_on = serializers.ListField(child=serializers.UUIDField(), default=list)
        fine_tuned_from = serializers.UUIDField(required=False, allow_null=True)
        markets = serializers.ListField(
            child=serializers.CharField(max_length=2),
            required=False,
            help_text="ISO 3166-1 alpha-2 codes of the markets it serves; replaces the last.",
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            201: inline_serializer(
                "ModelVersion",
                {
                    "id": serializers.UUIDField(),
                    "model": serializers.CharField(),
                    "version": serializers.CharField(),
                },
            ),
            404: ERROR,
            409: ERROR,
        },
        examples=examples.MODEL_EXAMPLES,
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        model_version = services.model_version_register(
            namespace=values["namespace"],
            name=values["name"],
            version=values["version"],
            trained_on=[_version(v) for v in values["trained_on"]],
            fine_tuned_on=[_version(v) for v in values["fine_tuned_on"]],
            evaluated_on=[_version(v) for v in values["evaluated_on"]],
            fine_tuned_from=services.model_version_get(values.get("fine_tuned_from")),
            markets=values.get("markets"),
        )
        body = {
            "id": str(model_version.pk),
            "model": model_version.model.node_id,
            "version": model_version.version,
        }
        return Response(body, status=status.HTTP_201_CREATED)
