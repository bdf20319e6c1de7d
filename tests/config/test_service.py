"""The service as orchestrators and engineers see it: probes, API docs, errors, request ids."""

import pytest


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_the_real_database_and_broker(client, settings):
    assert settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    assert not settings.CELERY_TASK_ALWAYS_EAGER
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": True, "broker": True}}


@pytest.mark.django_db
def test_readyz_reports_an_unreachable_broker(client, monkeypatch):
    from config.celery import app

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "broker": False}


@pytest.mark.django_db
def test_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/consent/events",
        "/api/v1/consent/events/import",
        "/api/v1/consent/check",
        "/api/v1/consent/filter",
    ):
        assert path in paths
    assert schema.json()["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    # Served from the package, not a CDN: the machine may have no Internet.
    assert b"cdn.jsdelivr" not in docs.content


@pytest.mark.django_db
def test_unknown_api_paths_answer_in_the_error_shape(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found.", "fields": {}}


def test_request_ids_are_echoed_and_only_safe_ones_are_reused(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-12345678")["X-Request-ID"] == (
        "abc-12345678"
    )
    generated = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\n<script>")["X-Request-ID"]
    assert len(generated) == 32 and generated.isalnum()
