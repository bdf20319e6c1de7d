"""Production hardening: `manage.py check --deploy` is clean with production's settings and
speaks up when one is weakened; secrets can come from files; the security headers are sent,
and the admin and the API docs still run under the Content-Security-Policy."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth.models import User

from erasure.services import erasure_request_create
from tests import identifiers
from tests.browser import new_context

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "staff-password-for-tests-1"


@pytest.fixture
def production(tmp_path) -> dict[str, str]:
    """The environment of a production web process: real secrets, HTTPS behind a TLS proxy,
    two-factor sign-in for staff, a metrics token. Nothing inherited from the test run."""
    key = tmp_path / "signing_key.pem"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "LUP_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": "postgres://lup@db.internal:5432/lup",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "LUP_SUBJECT_PEPPER": secrets.token_hex(32),
        "LUP_REQUEST_KEK": secrets.token_hex(32),
        "LUP_SIGNING_KEY_FILE": str(key),
        "LUP_LOG_ORIGIN": "lup.example.org/receipts",
        "LUP_METRICS_TOKEN": secrets.token_urlsafe(32),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "lup.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://lup.example.org",
        "LUP_BEHIND_TLS_PROXY": "true",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
        "LUP_ADMIN_REQUIRE_OTP": "true",
        "EMAIL_HOST": "smtp.example.org",
        "LUP_MAIL_TO_FILES": "false",
    }


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_production_settings_pass_the_deploy_check(production):
    run = check_deploy(production)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "System check identified no issues" in run.stdout
    assert "WARNING" not in run.stdout + run.stderr


def test_every_secret_can_come_from_a_file(production, tmp_path):
    env = dict(production)
    for name in (
        "SECRET_KEY",
        "LUP_SUBJECT_PEPPER",
        "LUP_REQUEST_KEK",
        "LUP_METRICS_TOKEN",
        "DATABASE_URL",
        "REDIS_URL",
    ):
        path = tmp_path / name.lower()
        path.write_text(env.pop(name) + "\n")
        env[f"{name}_FILE"] = str(path)
    run = check_deploy(env)
    assert run.returncode == 0, run.stdout + run.stderr

    env["SECRET_KEY_FILE"] = str(tmp_path / "missing")
    run = check_deploy(env)
    assert run.returncode != 0
    assert "SECRET_KEY_FILE: cannot read" in run.stderr


@pytest.mark.parametrize(
    ("weakened", "warning"),
    [
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SECURE_HSTS_INCLUDE_SUBDOMAINS": "false"}, "security.W005"),
        ({"SECURE_SSL_REDIRECT": "false"}, "security.W008"),
        ({"SESSION_COOKIE_SECURE": "false"}, "security.W012"),
        ({"LUP_ADMIN_REQUIRE_OTP": "false"}, "lup.W050"),
        ({"DEBUG": "true"}, "security.W018"),
        ({"SECRET_KEY": "django-insecure-" + "x" * 40}, "security.W009"),
    ],
)
def test_a_weakened_setting_fails_the_deploy_check(production, weakened, warning):
    run = check_deploy({**production, **weakened})
    assert run.returncode != 0
    assert f"({warning})" in run.stdout + run.stderr


def test_no_mail_host_is_a_startup_error_unless_files_are_asked_for(production):
    env = {k: v for k, v in production.items() if k != "EMAIL_HOST"}
    check = [sys.executable, "manage.py", "check"]
    run = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "(lup.E090)" in run.stderr

    env["LUP_MAIL_TO_FILES"] = "true"
    run = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    deploy = check_deploy(env)
    assert deploy.returncode != 0
    assert "(lup.W091)" in deploy.stdout + deploy.stderr
    assert "(lup.E090)" not in deploy.stdout + deploy.stderr


@pytest.mark.django_db
def test_security_headers_on_the_admin_and_the_api_docs(client, settings):
    for path in ("/admin/login/", "/api/docs/", "/api/v1/ledger/checkpoint"):
        response = client.get(path, secure=True)
        assert response["Content-Security-Policy"] == settings.LUP_CONTENT_SECURITY_POLICY, path
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Strict-Transport-Security"] == "max-age=31536000"


@pytest.mark.django_db
def test_the_subject_pages_keep_their_stricter_policy(client):
    response = client.get("/en/delete/")
    assert response.status_code == 200
    assert response["Content-Security-Policy"].startswith("default-src 'none'")


@pytest.mark.django_db
def test_the_api_docs_have_no_inline_script(client):
    page = client.get("/api/docs/").content.decode()
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts and all("src=" in attributes for attributes in scripts)
    start = client.get("/api/docs/?script=")
    assert start.status_code == 200
    assert "SwaggerUIBundle" in start.content.decode()


def test_plain_http_is_redirected_except_for_probes_and_metrics(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/admin/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/admin/login/"
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code != 301


@pytest.fixture
def staff_member(transactional_db):
    user = User.objects.create_superuser("csp-admin", password=PASSWORD)
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": identifiers.email()}],
        country="KH",
        channel="admin",
        actor="staff:test",
    )
    return user, request


def test_the_admin_and_the_api_docs_run_under_the_policy(staff_member, live_server, browser):
    user, request = staff_member
    context = new_context(browser)
    page = context.new_page()
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on("pageerror", lambda error: refused.append(str(error)))
    try:
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        assert page.url == f"{live_server.url}/admin/", page.content()[:500]
        page.goto(f"{live_server.url}/admin/erasure/erasurerequest/{request.pk}/change/")
        page.wait_for_load_state("networkidle")
        # The admin's own scripts ran: the sidebar toggle and the theme switch are wired up.
        assert page.locator("#toggle-nav-sidebar").count() == 1
        page.goto(f"{live_server.url}/api/docs/")
        page.wait_for_selector(".swagger-ui .info .title")
        assert "Lup API" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector(".opblock")  # the operations, drawn from /api/schema/
        assert refused == []
    finally:
        context.close()
