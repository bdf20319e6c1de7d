"""Declarative manifests (`lineage_register`) and Croissant dataset cards (export, import, API).

A manifest registers all of itself or nothing, names the entry at fault, and changes nothing
when registered again. A card exported and imported again keeps what Croissant can carry.
"""

import copy
import json
import uuid
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from core.errors import ApplicationError
from lineage import services
from lineage.croissant import CONFORMS_TO, CONTEXT, croissant_export, croissant_import
from lineage.manifest import COUNTED, ManifestError, manifest_register
from lineage.models import DatasetVersion, Edge, ModelVersion
from lineage.services import LocationInput, VersionInput

EXAMPLE = Path(__file__).resolve().parents[2] / "lineage" / "examples" / "manifest.yaml"

pytestmark = pytest.mark.django_db

RAW = "dataset:s3://sea-chat-raw-sg:chat-logs"
CLEAN = "dataset:postgres://pg.hcm.internal:5432:chat.cleaned_messages"
EVALS = "dataset:s3://sea-evals-kh:khm-vie-qa"
ASSISTANT = "model:sea-chat:khm-vie-assistant"
SUPPORT = "model:sea-chat:khm-vie-assistant-support"


def counts() -> dict[str, int]:
    return {name: model.objects.count() for name, model in COUNTED.items()}


def snapshot() -> dict[str, list]:
    """Every stored row of the graph, to show that a second registration changed none."""
    return {name: sorted(map(repr, model.objects.values())) for name, model in COUNTED.items()}


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def register_file(tmp_path: Path, document: dict) -> str:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump(document, allow_unicode=True))
    out = []

    class Out:
        def write(self, text):
            out.append(text)

    call_command("lineage_register", str(manifest), stdout=Out())
    return "".join(out)


# Manifests


def test_the_example_manifest_registers_the_pipeline_once(tmp_path):
    """The documented example registers its graph; registering it again adds and changes
    nothing."""
    out = register_file(tmp_path, example())

    assert counts() == {
        "datasets": 3,
        "versions": 4,
        "locations": 5,
        "jobs": 3,
        "runs": 4,
        "run_datasets": 7,
        "models": 2,
        "model_versions": 2,
        "model_data": 4,
        "edges": 10,
    }
    assert "added 3 datasets, 4 versions, 5 locations" in out
    assert set(Edge.objects.values_list("source", "target")) == {
        (RAW, "job:sea-chat:clean-chats"),
        ("job:sea-chat:clean-chats", CLEAN),
        (CLEAN, "job:sea-chat:build-eval-set"),
        ("job:sea-chat:build-eval-set", EVALS),
        # The assistant was trained (and evaluated) by the training run's job.
        (CLEAN, "job:sea-chat:train-assistant"),
        (EVALS, "job:sea-chat:train-assistant"),
        ("job:sea-chat:train-assistant", ASSISTANT),
        (CLEAN, SUPPORT),
        (EVALS, SUPPORT),
        (ASSISTANT, SUPPORT),
    }
    evals = DatasetVersion.objects.get(dataset__name="khm-vie-qa", version="v1")
    assert evals.locations.get().country == "KH"
    assert evals.schema_fields[0] == {
        "name": "question",
        "type": "string",
        "description": "Question in Khmer or Vietnamese",
    }
    assert evals.purposes == ["train_ai_system.evaluation"]
    assert evals.languages == ["km", "vi"]
    assert ModelVersion.objects.get(model__name="khm-vie-assistant").markets == ["KH", "VN"]
    clean = DatasetVersion.objects.get(dataset__name="chat.cleaned_messages", version="2024-06-02")
    assert sorted(clean.locations.values_list("country", flat=True)) == ["VN", "VN"]

    before = snapshot()
    again = register_file(tmp_path, example())

    assert snapshot() == before
    assert "added 0 datasets, 0 versions, 0 locations, 0 jobs, 0 runs" in again


def test_entries_may_refer_to_what_is_already_registered():
    """A run's inputs may be versions registered before, not only those in the manifest."""
    dataset = services.dataset_register(namespace="postgres://db:5432", name="crm.contacts")
    services.version_register(dataset=dataset, data=VersionInput(version="3"))

    added = manifest_register(
        document={
            "jobs": [
                {
                    "namespace": "etl",
                    "name": "export",
                    "runs": [
                        {
                            "run_id": str(uuid.uuid4()),
                            "state": "COMPLETE",
                            "inputs": ["postgres://db:5432:crm.contacts@3"],
                        }
                    ],
                }
            ],
        }
    )

    assert added["runs"] == 1
    assert Edge.objects.filter(source="dataset:postgres://db:5432:crm.contacts").exists()


def _bad_country(document):
    document["datasets"][2]["versions"][0]["locations"][0]["country"] = "XK1"


def _unknown_input(document):
    document["jobs"][2]["runs"][0]["inputs"].append("s3://sea-evals-kh:khm-vie-qa@v9")


def _changed_version(document):
    # The same label as the version before it, with other content.
    document["datasets"][1]["versions"][1]["version"] = "2024-06-02"


def _unknown_parent(document):
    document["models"][1]["versions"][0]["fine_tuned_from"] = "sea-chat:khm-vie-assistant@2.0"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_bad_country, "datasets[2].versions[0].locations[0].country: invalid_country"),
        (_unknown_input, "jobs[2].runs[0].inputs[1]: unknown_dataset_version"),
        (_changed_version, "datasets[1].versions[1]: version_immutable"),
        (_unknown_parent, "models[1].versions[0].fine_tuned_from: unknown_model_version"),
    ],
    ids=["checked-before-writing", "unknown-reference", "immutable-version", "unknown-parent"],
)
def test_a_manifest_with_one_bad_entry_registers_nothing(tmp_path, change, expected):
    """Whether the entry is refused by the first check or only once earlier entries are
    written, nothing of the manifest stays, and the error names the entry."""
    document = example()
    change(document)

    with pytest.raises(CommandError) as refused:
        register_file(tmp_path, document)

    assert expected in str(refused.value)
    assert "nothing was registered" in str(refused.value)
    assert set(counts().values()) == {0}


def test_every_problem_is_reported_with_its_path():
    document = example()
    version = document["datasets"][0]["versions"][0]
    version["version"] = 1.1
    version["data_categories"].append("user.shoe_size")
    version["purposes"].append({"train": True})
    version["locations"][0]["contry"] = "SG"
    version["languages"] = ["km", "Khmer"]
    document["models"][0]["versions"][0]["markets"] = ["KH", "Cambodia"]
    document["jobs"][0]["runs"][0]["started_at"] = "2024-06-02T01:00:00"
    document["jobs"][0]["runs"][1]["state"] = "DONE"
    document["models"][0]["versions"][0]["trained_on"] = ["no-version-here"]

    with pytest.raises(ManifestError) as refused:
        manifest_register(document=document)

    assert refused.value.fields == {
        "datasets[0].versions[0].version": "quote_version",
        "datasets[0].versions[0].data_categories[4]": "invalid_data_category",
        "datasets[0].versions[0].purposes[2]": "not_text",
        "datasets[0].versions[0].locations[0].contry": "unknown_key",
        "datasets[0].versions[0].languages[1]": "invalid_language",
        "models[0].versions[0].markets[1]": "invalid_country",
        "jobs[0].runs[0].started_at": "naive_datetime",
        "jobs[0].runs[1].state": "invalid_state",
        "models[0].versions[0].trained_on[0]": "invalid_reference",
    }


def test_a_file_that_is_not_a_manifest_is_refused(tmp_path):
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("datasets: [unclosed\n")
    with pytest.raises(CommandError, match="invalid_yaml"):
        call_command("lineage_register", str(manifest))
    manifest.write_text("- just\n- a list\n")
    with pytest.raises(CommandError, match="manifest: not_a_mapping"):
        call_command("lineage_register", str(manifest))
    with pytest.raises(CommandError, match="No such file"):
        call_command("lineage_register", str(tmp_path / "missing.yaml"))


# Croissant

DIGEST = "sha256:" + "ab" * 32
FIELDS = [
    {"name": "question", "type": "string", "description": "Question in Khmer"},
    {"name": "turns", "type": "integer", "description": "Turns in the conversation"},
    {"name": "score", "type": "float", "description": ""},
    {"name": "asked_at", "type": "datetime", "description": "When it was asked"},
]


@pytest.fixture
def evals():
    dataset = services.dataset_register(
        namespace="s3://sea-evals-kh",
        name="khm-vie-qa",
        description="Question-answer pairs written in Phnom Penh.",
        license="CC-BY-NC-4.0",
    )
    return services.version_register(
        dataset=dataset,
        data=VersionInput(
            version="1.0.0",
            digest=DIGEST,
            record_count=4000,
            schema_fields=FIELDS,
            data_categories=["user.content.private"],
            purposes=["train_ai_system.evaluation"],
            languages=["km", "vi"],
            locations=[
                LocationInput(
                    system="minio",
                    uri="s3://evals-kh/khm-vie-qa/v1.jsonl",
                    country="KH",
                    region="phnom-penh",
                    provider="on-premises",
                ),
                LocationInput(
                    system="s3", uri="s3://evals-sg/khm-vie-qa/part-*.parquet", country="SG"
                ),
                LocationInput(
                    system="postgres",
                    uri="postgres://pg.kh:5432/evals/qa?version=1.0.0",
                    country="KH",
                ),
            ],
        ),
    )


def test_export_is_a_croissant_card(evals):
    """The card has what Croissant 1.0 requires and each file, field and checksum.

    mlcroissant, the reference validator, pulls in pandas, scipy and rdflib, so the structure
    is checked here instead."""
    card = croissant_export(version=evals)

    assert card["@context"] == CONTEXT
    assert card["@type"] == "sc:Dataset"
    assert card["conformsTo"] == CONFORMS_TO == "http://mlcommons.org/croissant/1.0"
    assert card["name"] == "khm-vie-qa"
    assert card["license"] == "CC-BY-NC-4.0"
    assert card["version"] == "1.0.0"
    assert card["url"] == "s3://evals-kh/khm-vie-qa/v1.jsonl"
    file_object, file_set, table = card["distribution"]
    assert file_object == {
        "@type": "cr:FileObject",
        "@id": "minio-1",
        "name": "minio-1",
        "description": "minio in KH (phnom-penh, on-premises)",
        "encodingFormat": "application/jsonlines",
        "contentUrl": "s3://evals-kh/khm-vie-qa/v1.jsonl",
        "sha256": "ab" * 32,
    }
    assert file_set["@type"] == "cr:FileSet"
    assert file_set["includes"] == "s3://evals-sg/khm-vie-qa/part-*.parquet"
    assert file_set["encodingFormat"] == "application/x-parquet"
    assert table["@type"] == "cr:FileObject"  # a query string is not a glob
    assert table["contentUrl"] == "postgres://pg.kh:5432/evals/qa?version=1.0.0"
    (record_set,) = card["recordSet"]
    assert record_set["@type"] == "cr:RecordSet"
    assert [(f["@type"], f["@id"], f["name"], f["dataType"]) for f in record_set["field"]] == [
        ("cr:Field", "records/question", "question", "sc:Text"),
        ("cr:Field", "records/turns", "turns", "sc:Integer"),
        ("cr:Field", "records/score", "score", "sc:Float"),
        ("cr:Field", "records/asked_at", "asked_at", "sc:DateTime"),
    ]
    assert record_set["field"][0]["source"] == {
        "fileObject": {"@id": "minio-1"},
        "extract": {"column": "question"},
    }
    ids = [node["@id"] for node in card["distribution"] + card["recordSet"] + record_set["field"]]
    assert len(ids) == len(set(ids))
    assert card["rai:personalSensitiveInformation"] == ["user.content.private"]
    json.dumps(card)  # plain JSON


def test_export_then_import_keeps_the_card(evals):
    card = json.loads(json.dumps(croissant_export(version=evals)))

    imported = croissant_import(document=card, namespace="hf://datasets/lup")

    assert imported.pk != evals.pk
    assert imported.dataset.namespace == "hf://datasets/lup"
    for key in ("name", "description", "license"):
        assert getattr(imported.dataset, key) == getattr(evals.dataset, key)
    assert imported.version == "1.0.0"
    assert imported.digest == DIGEST
    assert imported.schema_fields == FIELDS
    assert imported.data_categories == ["user.content.private"]
    assert imported.purposes == ["train_ai_system.evaluation"]
    assert imported.languages == ["km", "vi"]  # schema.org inLanguage
    assert imported.locations.count() == 0  # a card does not say where the bytes are
    assert croissant_import(document=card, namespace="hf://datasets/lup") == imported


def test_import_reads_cards_other_tools_write():
    """A card as Hugging Face writes it: a git repository whose sha256 is a URL, two record
    sets, schema.org types by their full IRI, a CreativeWork license and no version."""
    card = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": "mnist",
        "description": {"en": "Handwritten digits."},
        "license": {"@type": "sc:CreativeWork", "url": "https://spdx.org/licenses/MIT"},
        "distribution": [
            {
                "@type": "cr:FileObject",
                "@id": "repo",
                "contentUrl": "https://hf.co/mnist",
                "encodingFormat": "git+https",
                "sha256": "https://github.com/mlcommons/croissant",
            },
            {
                "@type": "cr:FileSet",
                "@id": "parquet",
                "includes": "*/*.parquet",
                "containedIn": {"@id": "repo"},
                "encodingFormat": "application/x-parquet",
            },
        ],
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "name": "splits",
                "field": {"@type": "cr:Field", "name": "name", "dataType": "sc:Text"},
            },
            {
                "@type": "cr:RecordSet",
                "name": "default",
                "field": [
                    {"@type": "cr:Field", "name": "image", "dataType": "sc:ImageObject"},
                    {
                        "@type": "cr:Field",
                        "name": "label",
                        "dataType": ["https://schema.org/Integer", "cr:Label"],
                    },
                    {"@type": "cr:Field", "name": "box", "dataType": "cr:BoundingBox"},
                ],
            },
        ],
    }

    imported = croissant_import(document=card, namespace="hf")

    assert imported.version == "1"
    assert imported.digest == ""
    assert imported.dataset.description == "Handwritten digits."
    assert imported.dataset.license == "https://spdx.org/licenses/MIT"
    assert [(f["name"], f["type"]) for f in imported.schema_fields] == [
        ("splits/name", "string"),
        ("default/image", "image"),
        ("default/label", "integer"),
        ("default/box", "cr:BoundingBox"),
    ]


def _card(**changes) -> dict:
    card = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": "chats",
        "distribution": [{"@type": "cr:FileObject", "sha256": "ab" * 32}],
        "recordSet": [{"@type": "cr:RecordSet", "field": [{"name": "text"}]}],
    }
    for key, value in changes.items():
        card[key] = value
    return card


@pytest.mark.parametrize(
    ("document", "path", "problem"),
    [
        ([], "$", "not_an_object"),
        (_card(**{"@type": "sc:Person"}), "@type", "not_a_dataset"),
        (_card(**{"@type": {"@id": "sc:Dataset"}}), "@type", "not_a_dataset"),
        (_card(name=""), "name", "required"),
        (_card(name=["chats"]), "name", "not_text"),
        (
            _card(distribution=[{"@type": "cr:FileObject", "sha256": "abc"}]),
            "distribution[0].sha256",
            "invalid_sha256",
        ),
        (_card(distribution=["file.csv"]), "distribution[0]", "not_an_object"),
        (
            _card(recordSet=[{"field": [{"name": "a"}, {"dataType": "sc:Text"}]}]),
            "recordSet[0].field[1].name",
            "required",
        ),
        (_card(license=[7]), "license[0]", "invalid_license"),
    ],
    ids=[
        "not-an-object",
        "not-a-dataset",
        "type-not-text",
        "no-name",
        "name-not-text",
        "bad-sha256",
        "file-not-object",
        "field-without-name",
        "bad-license",
    ],
)
def test_a_bad_card_is_refused_naming_the_path(document, path, problem):
    with pytest.raises(ApplicationError) as refused:
        croissant_import(document=copy.deepcopy(document), namespace="hf")

    assert refused.value.code == "invalid_croissant"
    assert refused.value.fields == {path: problem}
    assert not DatasetVersion.objects.exists()


# API


def test_api_exports_a_card_as_json_ld(api, evals):
    """The dataset is named `<namespace>:<name>`; without a version, the latest is given."""
    services.version_register(dataset=evals.dataset, data=VersionInput(version="1.1.0"))
    client = api("lineage:read")

    latest = client.get("/api/v1/lineage/croissant", {"dataset": "s3://sea-evals-kh:khm-vie-qa"})
    pinned = client.get(
        "/api/v1/lineage/croissant", {"dataset": "s3://sea-evals-kh:khm-vie-qa", "version": "1.0.0"}
    )

    assert latest.status_code == 200
    assert latest["Content-Type"] == "application/ld+json"
    assert json.loads(latest.content)["version"] == "1.1.0"
    card = json.loads(pinned.content)
    assert card["version"] == "1.0.0"
    assert card["distribution"][0]["sha256"] == "ab" * 32
    assert card["url"].startswith("http://testserver/api/v1/lineage/croissant?dataset=s3")
    assert card["url"].endswith("version=1.0.0")


def test_api_export_names_what_is_missing(api, evals):
    client = api("lineage:read")

    unknown = client.get("/api/v1/lineage/croissant", {"dataset": "s3://nowhere:x"})
    no_version = client.get(
        "/api/v1/lineage/croissant", {"dataset": "s3://sea-evals-kh:khm-vie-qa", "version": "9"}
    )
    malformed = client.get("/api/v1/lineage/croissant", {"dataset": "khm-vie-qa"})

    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_node")
    assert (no_version.status_code, no_version.json()["code"]) == (404, "unknown_version")
    assert (malformed.status_code, malformed.json()["code"]) == (400, "invalid_dataset")


def test_api_imports_a_card(api, evals):
    card = croissant_export(version=evals)
    client = api("lineage:write")

    response = client.post(
        "/api/v1/lineage/croissant/import?namespace=hf://datasets/lup",
        data=json.dumps(card),
        content_type="application/ld+json",
    )
    bad = client.post(
        "/api/v1/lineage/croissant/import?namespace=hf", data={"@type": "sc:Dataset"}, format="json"
    )

    assert response.status_code == 201
    imported = DatasetVersion.objects.get(pk=response.json()["id"])
    assert response.json() == {
        "id": str(imported.pk),
        "dataset": "dataset:hf://datasets/lup:khm-vie-qa",
        "version": "1.0.0",
        "digest": DIGEST,
    }
    assert bad.status_code == 400
    assert bad.json() == {
        "code": "invalid_croissant",
        "detail": bad.json()["detail"],
        "fields": {"name": "required"},
    }


def test_api_needs_the_lineage_scopes(api, evals):
    card = croissant_export(version=evals)
    reader, writer = api("lineage:read"), api("lineage:write", "consent:read")

    export = writer.get("/api/v1/lineage/croissant", {"dataset": "s3://sea-evals-kh:khm-vie-qa"})
    imported = reader.post(
        "/api/v1/lineage/croissant/import?namespace=hf", data=card, format="json"
    )

    assert (export.status_code, export.json()["code"]) == (403, "insufficient_scope")
    assert (imported.status_code, imported.json()["code"]) == (403, "insufficient_scope")
    assert DatasetVersion.objects.count() == 1
