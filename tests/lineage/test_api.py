"""Engineers' lineage API: registration, the graph, PROV-JSON, the picture and transfers."""

import xml.etree.ElementTree as ET

import pytest
from prov.model import ProvDocument

from lineage.models import Dataset, DatasetVersion, Edge, ModelVersion, StorageLocation
from tests.lineage import marquez_schema

pytestmark = pytest.mark.django_db
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def writer(api):
    return api("lineage:write", "lineage:read")


def register(client, namespace, name, version="1", country="SG", status=201, **extra):
    body = {
        "namespace": namespace,
        "name": name,
        "version": version,
        "digest": DIGEST,
        "record_count": 1200,
        "data_categories": ["user.content"],
        "purposes": ["train_ai_system"],
        "schema_fields": [{"name": "text", "type": "string"}],
        "locations": [
            {
                "system": "s3",
                "uri": f"s3://{name}/{version}",
                "country": country,
                "region": "ap-southeast-1",
                "provider": "aws",
            }
        ],
        **extra,
    }
    response = client.post("/api/v1/lineage/versions", body, format="json")
    assert response.status_code == status, response.json()
    return response.json()


def run(client, job, inputs, outputs):
    """A run through the registration services (the OpenLineage path has its own tests)."""
    import uuid

    from lineage import services

    services.run_record(
        run_id=uuid.uuid4(),
        job=services.job_register(namespace="jobs", name=job),
        state="COMPLETE",
        inputs=[DatasetVersion.objects.get(pk=i["id"]) for i in inputs],
        outputs=[DatasetVersion.objects.get(pk=o["id"]) for o in outputs],
    )


@pytest.fixture
def pipeline(writer):
    raw = register(writer, "s3://ml-data", "raw-chats", country="SG")
    clean = register(writer, "s3://ml-data", "clean-chats", country="VN")
    evals = register(writer, "s3://ml-data", "khmer-qa", country="KH")
    run(writer, "clean", [raw], [clean])
    run(writer, "split", [clean], [evals])
    model = writer.post(
        "/api/v1/lineage/models",
        {
            "namespace": "models",
            "name": "assistant",
            "version": "7",
            "trained_on": [clean["id"]],
            "evaluated_on": [evals["id"]],
        },
        format="json",
    )
    assert model.status_code == 201, model.json()
    return {"raw": raw, "clean": clean, "evals": evals}


def test_registration_records_version_locations_and_is_immutable(writer, pipeline):
    version = writer.get(f"/api/v1/lineage/versions/{pipeline['raw']['id']}").json()
    assert version["dataset"] == "dataset:s3://ml-data:raw-chats"
    assert version["locations"][0]["country"] == "SG"
    again = register(writer, "s3://ml-data", "raw-chats", status=200)
    assert again["id"] == pipeline["raw"]["id"]
    changed = writer.post(
        "/api/v1/lineage/versions",
        {
            "namespace": "s3://ml-data",
            "name": "raw-chats",
            "version": "1",
            "record_count": 9,
        },
        format="json",
    )
    assert (changed.status_code, changed.json()["code"]) == (409, "version_immutable")


def test_versions_declare_languages_and_origin_and_models_their_markets(writer):
    version = register(
        writer,
        "s3://eval",
        "support-qa",
        languages=["km", "fil", "km"],
        origin="written by our support staff, 2026",
    )
    assert version["languages"] == ["fil", "km"]
    assert version["origin"] == "written by our support staff, 2026"
    body = {
        "namespace": "models",
        "name": "assistant",
        "version": "8",
        "evaluated_on": [version["id"]],
        "markets": ["KH", "PH"],
    }
    assert writer.post("/api/v1/lineage/models", body, format="json").status_code == 201
    model = ModelVersion.objects.get(version="8")
    assert model.markets == ["KH", "PH"]
    # A deployment changes: registering again with other markets replaces them.
    body["markets"] = ["KH"]
    assert writer.post("/api/v1/lineage/models", body, format="json").status_code == 201
    model.refresh_from_db()
    assert model.markets == ["KH"]
    refused = writer.post("/api/v1/lineage/models", {**body, "markets": ["kh"]}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_country")
    model.refresh_from_db()
    assert model.markets == ["KH"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"namespace": "n", "name": "x", "version": "1", "digest": "md5:1"}, "invalid"),
        (
            {
                "namespace": "n",
                "name": "x",
                "version": "1",
                "locations": [{"system": "s3", "uri": "s3://x", "country": "XX"}],
            },
            "invalid_country",
        ),
        ({"name": "x", "version": "1"}, "invalid"),
        ({"namespace": "n", "name": "x", "version": "1", "languages": ["khmer"]}, "invalid"),
        ({"namespace": "n", "name": "x", "version": "1", "languages": ["KM"]}, "invalid_language"),
        ({"namespace": "n", "name": "x", "version": "1", "languages": ["zz"]}, "invalid_language"),
    ],
)
def test_bad_registrations_write_nothing(writer, body, code):
    before = (
        Dataset.objects.count(),
        DatasetVersion.objects.count(),
        StorageLocation.objects.count(),
    )
    response = writer.post("/api/v1/lineage/versions", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert (
        Dataset.objects.count(),
        DatasetVersion.objects.count(),
        StorageLocation.objects.count(),
    ) == before


def test_graph_api_in_marquez_shape(writer, pipeline):
    """Depth counts job hops as Marquez does: at depth 0 a dataset's graph holds the jobs that
    read and write it and their datasets; the model is under Lup's own `models` key."""
    response = writer.get(
        "/api/v1/lineage", {"nodeId": "dataset:s3://ml-data:clean-chats", "depth": 0}
    )
    assert response.status_code == 200
    body = response.json()
    marquez_schema.assert_valid(body)
    assert {node["id"] for node in body["graph"]} == {
        "dataset:s3://ml-data:raw-chats",
        "dataset:s3://ml-data:clean-chats",
        "dataset:s3://ml-data:khmer-qa",
        "job:jobs:clean",
        "job:jobs:split",
    }
    assert [node["id"] for node in body["models"]] == ["model:models:assistant"]
    assert body["truncated"] is False
    for params, code in (
        ({"nodeId": "table:x:y"}, "invalid_node_id"),
        ({"nodeId": "dataset:s3://ml-data:nope"}, "unknown_node"),
        ({"nodeId": "dataset:s3://ml-data:raw-chats", "depth": "x1"}, "invalid_depth"),
        ({"nodeId": "dataset:s3://ml-data:raw-chats", "depth": "-1"}, "invalid_depth"),
        ({"nodeId": "dataset:s3://ml-data:raw-chats", "depth": "99999999"}, "invalid_depth"),
    ):
        bad = writer.get("/api/v1/lineage", params)
        assert bad.status_code in (400, 404)
        assert bad.json()["code"] == code


def test_prov_json_round_trips_through_the_prov_package(writer, pipeline):
    response = writer.get(
        "/api/v1/lineage/prov", {"nodeId": "dataset:s3://ml-data:raw-chats", "depth": 10}
    )
    assert response.status_code == 200
    document = ProvDocument.deserialize(content=response.content.decode(), format="json")
    again = ProvDocument.deserialize(content=document.serialize(format="json"), format="json")
    assert document == again
    records = {type(r).__name__ for r in document.get_records()}
    assert {
        "ProvEntity",
        "ProvActivity",
        "ProvUsage",
        "ProvGeneration",
        "ProvDerivation",
        "ProvAgent",
        "ProvAssociation",
    } <= records
    labels = {
        str(r.get_attribute("prov:label").pop())
        for r in document.get_records()
        if r.get_attribute("prov:label")
    }
    assert "s3://ml-data:clean-chats@1" in labels
    assert "models:assistant@7" in labels


def test_the_neighbourhood_picture_is_svg_with_every_node(writer, pipeline):
    response = writer.get(
        "/api/v1/lineage/picture.svg", {"nodeId": "dataset:s3://ml-data:clean-chats", "depth": 2}
    )
    assert response["Content-Type"] == "image/svg+xml"
    root = ET.fromstring(response.content)  # noqa: S314 (our own SVG)
    titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert {
        "dataset:s3://ml-data:raw-chats",
        "job:jobs:clean",
        "model:models:assistant",
        "dataset:s3://ml-data:khmer-qa",
    } <= titles
    lines = list(root.iter("{http://www.w3.org/2000/svg}line"))
    assert len(lines) == Edge.objects.count()


def test_transfer_report_lists_flows_between_countries(writer, pipeline):
    copy = writer.post(
        f"/api/v1/lineage/versions/{pipeline['evals']['id']}/locations",
        {
            "system": "gcs",
            "uri": "gs://backup/khmer-qa",
            "country": "TH",
            "transfer_basis": "ASEAN MCC",
        },
        format="json",
    )
    assert copy.status_code == 201, copy.json()
    flows = writer.get("/api/v1/lineage/transfers").json()["flows"]
    runs = {
        (f["from"]["country"], f["to"]["country"], f["basis_recorded"])
        for f in flows
        if f["kind"] == "run"
    }
    assert runs >= {("SG", "VN", False), ("VN", "KH", False), ("VN", "TH", True)}
    copies = [f for f in flows if f["kind"] == "copy"]
    assert [(c["from"]["country"], c["to"]["country"], c["basis"]) for c in copies] == [
        ("KH", "TH", "ASEAN MCC")
    ]
    by_route = {(f["from"]["country"], f["to"]["country"]): f["rule"] for f in flows}
    singapore = by_route[("SG", "VN")]
    assert (singapore["country"], singapore["mechanism"]) == ("SG", "comparable_protection")
    assert "Personal Data Protection Act 2012, s.26" in singapore["sources"]
    assert singapore["unconfirmed"] is False
    vietnam = by_route[("VN", "KH")]
    assert (vietnam["country"], vietnam["mechanism"]) == ("VN", "filed_impact_assessment")
    assert "transfer impact assessment filed" in vietnam["summary"]
    assert "PDPL No. 91/2025/QH15, Art 27" in vietnam["sources"]
    assert by_route[("VN", "TH")] == vietnam


def test_scopes_guard_the_lineage_api(api, pipeline):
    reader = api("lineage:read")
    assert reader.get("/api/v1/lineage/transfers").status_code == 200
    denied = reader.post("/api/v1/lineage/versions", {}, format="json")
    assert (denied.status_code, denied.json()["code"]) == (403, "insufficient_scope")
    assert api("consent:read").get("/api/v1/lineage/transfers").status_code == 403


def test_the_admin_shows_a_versions_neighbourhood(client, django_user_model, pipeline):
    from django.contrib.auth.models import Group

    engineer = django_user_model.objects.create_user("eng", is_staff=True)
    engineer.groups.add(Group.objects.get(name="engineer"))
    client.force_login(engineer)
    for page in ("dataset", "datasetversion", "job", "run", "model", "modelversion"):
        assert client.get(f"/admin/lineage/{page}/").status_code == 200, page
    page = client.get(f"/admin/lineage/datasetversion/{pipeline['clean']['id']}/change/")
    assert page.status_code == 200
    assert b"<svg" in page.content and b"job:jobs:split" in page.content
