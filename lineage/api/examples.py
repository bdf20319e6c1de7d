"""Examples the OpenAPI document shows beside the lineage operations (the docs UI renders
them): a Khmer/Vietnamese chat assistant's evaluation set, the run that made it, and the model
evaluated on it, as in lineage/examples/manifest.yaml."""

from drf_spectacular.utils import OpenApiExample

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
        ],
        "datasetWide": [
            {
                "id": "dataset:postgres://pg.hcm.internal:5432:chat.cleaned_messages",
                "namespace": "postgres://pg.hcm.internal:5432",
                "name": "chat.cleaned_messages",
                "inputFields": [
                    {
                        "namespace": "postgres://pg.hcm.internal:5432",
                        "dataset": "consent.current",
                        "field": "purpose",
                        "transformations": [
                            {
                                "type": "INDIRECT",
                                "subtype": "FILTER",
                                "description": "",
                                "masking": False,
                            }
                        ],
                    }
                ],
            }
        ],
    },
    response_only=True,
)


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
