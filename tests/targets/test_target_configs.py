"""A target's config is checked against its kind's JSON Schema when it is registered: unknown
keys and inline secrets are refused, by key, without repeating the value; the target is then
looked at once (file, table, columns, server) unless `check` is false."""

import json
import os
import sqlite3

import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection
from jsonschema import Draft202012Validator

from connectors import CONNECTORS, ConnectorConfigError, connector_for
from connectors.errors import TargetUnreachable
from erasure.models import Target
from tests.connectors.test_config_contract import VALID

URL = "/api/v1/erasure/targets"
SECRET = "hunter2-Zq81"  # never to be repeated in an answer
DSN_ENV = "LUP_TEST_CONFIG_DSN"


@pytest.fixture(autouse=True)
def roots(tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return tmp_path


@pytest.fixture
def client(api):
    return api("erasure:write", "erasure:read")


def register(client, kind, config, **extra):
    body = {"name": f"t-{kind}".replace("_", "-"), "kind": kind, "country": "KH", "config": config}
    return client.post(URL, {**body, **extra}, format="json")


def refused(kind, config) -> ConnectorConfigError:
    with pytest.raises(ConnectorConfigError) as excinfo:
        connector_for(kind, config)
    assert SECRET not in str(excinfo.value) and SECRET not in json.dumps(excinfo.value.fields)
    return excinfo.value


# --- the schemas ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
def test_every_kind_declares_a_closed_described_schema_whose_example_builds(kind, roots):
    schema = CONNECTORS[kind].config_schema
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert schema["description"]
    assert all(prop.get("description") for prop in schema["properties"].values())
    assert set(schema["properties"]) == CONNECTORS[kind].config_keys | {"timeout_seconds"}
    (example,) = schema["examples"]
    assert Draft202012Validator(schema).is_valid(example)
    if kind == "sql_table":  # its example names another database; the test settings have one
        example = {**example, "alias": "default"}
    assert connector_for(kind, example).kind == kind


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
@pytest.mark.parametrize("key", ["password", "dsn", "api_token", "secret"])
def test_every_kind_refuses_an_inline_secret_by_its_key(kind, key):
    error = refused(kind, {**VALID[kind], key: SECRET})
    assert (error.code, error.fields) == ("inline_secret", {key: "inline secret"})


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
@pytest.mark.parametrize("key", ["url", "dsn", "connection"])
def test_every_kind_refuses_a_url_with_credentials_under_any_key(kind, key):
    error = refused(kind, {**VALID[kind], key: f"postgresql://lup:{SECRET}@db.internal/crm"})
    assert (error.code, error.fields) == ("credentials_in_url", {key: "credentials in url"})


@pytest.mark.parametrize(
    "url",
    [
        f"https://crm:{SECRET}@crm.example.org/erase",
        f"https://{SECRET}@crm.example.org/erase",
        f"https://crm.example.org/erase?token={SECRET}",
        f"https://crm.example.org/erase?a=1&api_key={SECRET}",
    ],
)
def test_a_webhook_url_with_credentials_is_refused(url):
    error = refused("webhook", {**VALID["webhook"], "url": url})
    assert (error.code, error.fields) == ("credentials_in_url", {"url": "credentials in url"})


def test_credentials_hidden_in_a_known_text_key_are_refused():
    config = {**VALID["manual"], "instructions": f"Log in to redis://:{SECRET}@cache:6379 first"}
    assert refused("manual", config).code == "credentials_in_url"
    config = {**VALID["manual"], "instructions": f"host=db user=crm password={SECRET}"}
    assert refused("manual", config).code == "inline_secret"


def test_a_url_without_credentials_is_kept():
    config = {**VALID["webhook"], "url": "https://crm.example.org/erase?tenant=kh"}
    assert connector_for("webhook", config).url.endswith("tenant=kh")


@pytest.mark.parametrize(
    ("kind", "change", "key"),
    [
        ("postgres_table", {"batch_size": "1000"}, "batch_size"),
        ("postgres_table", {"match": {"email": 5}}, "match.email"),
        ("redis", {"keys": "session:{user_id}"}, "keys"),
        ("text_log", {"mode": "shred"}, "mode"),
        ("csv_file", {"mask_columns": ["email", "email"]}, "mask_columns"),
        ("webhook", {"url": "ftp://crm.example.org/"}, "url"),
    ],
)
def test_a_value_the_schema_refuses_is_named_by_its_key(kind, change, key):
    error = refused(kind, {**VALID[kind], **change})
    assert error.code == "invalid_target_config"
    assert key in error.fields


# --- through the API -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("config", "code"),
    [
        ({**VALID["postgres_table"], "password": SECRET}, "inline_secret"),
        ({**VALID["postgres_table"], "dsn": f"postgres://u:{SECRET}@h/db"}, "credentials_in_url"),
        ({**VALID["postgres_table"], "table": 1}, "invalid_target_config"),
    ],
)
def test_registering_a_refused_config_answers_400_names_the_key_and_stores_nothing(
    client, config, code
):
    response = register(client, "postgres_table", config, check=False)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert response.json()["fields"]
    assert SECRET.encode() not in response.content
    assert not Target.objects.exists()


EMAIL = {"email": "email"}
REDIS_KEYS = ["s:{user_id}"]
NOT_THERE = [
    ("jsonl_file", {"path": "gone.jsonl", "match": EMAIL}, {"path": "file not found"}),
    ("csv_file", {"path": "gone.csv", "match": EMAIL}, {"path": "file not found"}),
    ("text_log", {"path": "gone.log", "id_types": ["email"]}, {"path": "file not found"}),
    ("parquet_file", {"path": "gone.parquet", "match": EMAIL}, {"path": "file not found"}),
    ("sqlite_table", {"path": "gone.db", "table": "users", "match": EMAIL}, {"path": "not found"}),
    (
        "csv_file",
        {"path": "people.csv", "match": {"email": "mail"}},
        {"match.email": "not in the header"},
    ),
    (
        "sqlite_table",
        {"path": "app.db", "table": "members", "match": EMAIL},
        {"table": "unknown table"},
    ),
    (
        "sqlite_table",
        {"path": "app.db", "table": "users", "match": {"email": "mail"}},
        {"match.email": "unknown column"},
    ),
    ("redis", {"url_env": "LUP_TEST_UNSET_REDIS_URL", "keys": REDIS_KEYS}, {"url_env": "not set"}),
    (
        "redis",
        {"url_env": "LUP_TEST_CLOSED_REDIS_URL", "keys": REDIS_KEYS},
        {"url_env": "unreachable"},
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "config", "fields"), NOT_THERE)
def test_a_target_that_is_not_there_answers_400_naming_what_is_missing(
    client, roots, monkeypatch, kind, config, fields
):
    (roots / "people.csv").write_text("email,name\n")
    with sqlite3.connect(roots / "app.db") as db:
        db.execute("CREATE TABLE users (id TEXT, email TEXT)")
    monkeypatch.delenv("LUP_TEST_UNSET_REDIS_URL", raising=False)
    monkeypatch.setenv("LUP_TEST_CLOSED_REDIS_URL", "redis://127.0.0.1:1/0")
    response = register(client, kind, config)
    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["fields"]) == ("target_unreachable", fields)
    assert not Target.objects.exists()
    # `check: false` registers it all the same: it may be created later.
    response = register(client, kind, config, check=False)
    assert response.status_code == 201, response.content
    assert Target.objects.get().config == config


@pytest.mark.django_db
def test_a_file_that_is_not_what_its_kind_reads_is_refused_by_the_check(client, roots):
    (roots / "app.db").write_text("not a database\n" * 100)
    (roots / "set.parquet").write_text("not parquet\n")
    sqlite_config = {"path": "app.db", "table": "users", "match": EMAIL}
    response = register(client, "sqlite_table", sqlite_config)
    assert (response.status_code, response.json()["code"]) == (400, "target_unreachable")
    assert response.json()["fields"] == {"path": "unreachable"}
    response = register(client, "parquet_file", {"path": "set.parquet", "match": EMAIL})
    assert (response.status_code, response.json()["code"]) == (400, "target_unreachable")
    assert not Target.objects.exists()


@pytest.mark.django_db
def test_a_target_that_is_there_is_registered_after_the_look(client, roots):
    (roots / "people.csv").write_text("email,name\nsomeone@example.org,A\n")
    with sqlite3.connect(roots / "app.db") as db:
        db.execute("CREATE TABLE users (id TEXT, email TEXT)")
    csv_config = {"path": "people.csv", "match": {"email": "email"}}
    assert register(client, "csv_file", csv_config).status_code == 201
    sqlite_config = {"path": "app.db", "table": "users", "match": {"email": "email"}}
    response = client.post(
        URL,
        {"name": "app-users", "kind": "sqlite_table", "country": "KH", "config": sqlite_config},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert "check" not in response.json()


@pytest.fixture
def crm_table(transactional_db, monkeypatch):
    """A real table on the test database, and that database's DSN in DSN_ENV."""
    db = django_settings.DATABASES["default"]
    dsn = psycopg.conninfo.make_conninfo(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=str(db["PORT"]) if db["PORT"] else None,
    )
    monkeypatch.setenv(DSN_ENV, dsn)
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE config_check_people (id serial PRIMARY KEY, email text)")
    yield
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS config_check_people")


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({}, None),
        ({"table": "config_check_gone"}, {"table": "unknown table"}),
        ({"match": {"email": "mail"}}, {"match.email": "unknown column"}),
        ({"mask": {"name": "[erased]"}}, {"mask.name": "unknown column"}),
        ({"dsn_env": "LUP_TEST_UNSET_DSN"}, {"dsn_env": "not set"}),
    ],
)
def test_a_postgres_table_is_looked_for_in_the_catalog(crm_table, api, change, fields):
    config = {
        "dsn_env": DSN_ENV,
        "table": "config_check_people",
        "match": {"email": "email"},
        **change,
    }
    response = register(api("erasure:write"), "postgres_table", config)
    if fields is None:
        assert response.status_code == 201, response.content
        return
    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["fields"]) == ("target_unreachable", fields)


@pytest.mark.django_db
def test_a_sql_table_check_names_the_missing_table_and_column():
    config = {"table": "erasure_target", "match": {"email": "email"}}
    with pytest.raises(TargetUnreachable) as excinfo:
        connector_for("sql_table", config).check()
    assert excinfo.value.fields == {"match.email": "unknown column"}
    with pytest.raises(TargetUnreachable) as excinfo:
        connector_for("sql_table", {**config, "table": "no_such_table"}).check()
    assert excinfo.value.fields == {"table": "unknown table"}
    connector_for("sql_table", {**config, "match": {"user_id": "id"}}).check()


def test_a_redis_target_whose_server_answers_passes_the_check(monkeypatch):
    monkeypatch.setenv(
        "LUP_TEST_REDIS_URL", django_settings.REDIS_URL or "redis://127.0.0.1:6379/0"
    )
    connector_for("redis", {"url_env": "LUP_TEST_REDIS_URL", "keys": ["session:{user_id}"]}).check()


@pytest.mark.parametrize("kind", ["manual", "webhook", "django_cache"])
def test_kinds_with_nothing_to_look_at_pass_the_check(kind):
    connector_for(kind, VALID[kind]).check()


# --- secrets in files ------------------------------------------------------------------------


@pytest.fixture
def secret_root(tmp_path_factory, settings):
    root = tmp_path_factory.mktemp("secrets")
    settings.LUP_SECRET_FILE_ROOTS = [str(root)]
    return root


def test_a_postgres_dsn_may_come_from_a_secret_file(crm_table, api, secret_root):
    (secret_root / "crm-dsn").write_text(os.environ[DSN_ENV] + "\n")
    config = {"dsn_file": str(secret_root / "crm-dsn"), "table": "config_check_people"}
    response = register(api("erasure:write"), "postgres_table", {**config, "match": EMAIL})
    assert response.status_code == 201, response.content
    assert response.json()["config"]["dsn_file"] == str(secret_root / "crm-dsn")


@pytest.mark.django_db
def test_a_secret_file_that_is_missing_is_named_by_the_check(client, secret_root):
    config = {"dsn_file": str(secret_root / "none"), "table": "people", "match": EMAIL}
    response = register(client, "postgres_table", config)
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["code"], body["fields"]) == ("target_unreachable", {"dsn_file": "not found"})


@pytest.mark.parametrize(
    ("kind", "key"),
    [("postgres_table", "dsn_file"), ("redis", "url_file"), ("webhook", "secret_file")],
)
@pytest.mark.parametrize("path", ["/etc/passwd", "relative/dsn", "{root}/../elsewhere"])
def test_a_secret_file_outside_the_secret_roots_is_refused(secret_root, kind, key, path):
    config = {k: v for k, v in VALID[kind].items() if not k.endswith("_env")}
    error = refused(kind, {**config, key: path.format(root=secret_root)})
    assert (error.code, error.fields) == ("path_outside_roots", {key: "outside roots"})


@pytest.mark.parametrize(
    ("kind", "env", "file"),
    [
        ("postgres_table", "dsn_env", "dsn_file"),
        ("redis", "url_env", "url_file"),
        ("webhook", "secret_env", "secret_file"),
    ],
)
def test_a_secret_is_named_once_by_variable_or_file(secret_root, kind, env, file):
    both = refused(kind, {**VALID[kind], file: str(secret_root / "s")})
    assert both.fields == {env: f"only one of {env} and {file}"}
    neither = refused(kind, {k: v for k, v in VALID[kind].items() if k != env})
    assert neither.fields == {env: "required"}


def test_a_webhook_signs_with_the_key_in_its_secret_file(secret_root):
    (secret_root / "hook-key").write_text("k3y-from-file\n")
    config = {**VALID["webhook"], "secret_file": str(secret_root / "hook-key")}
    del config["secret_env"]
    assert connector_for("webhook", config).secret() == b"k3y-from-file"


@pytest.mark.django_db
def test_the_admin_looks_at_the_target_unless_told_not_to(django_user_model, roots):
    from django.contrib.auth.models import Group
    from django.test import Client

    officer = django_user_model.objects.create_user("officer", is_staff=True)
    officer.groups.add(Group.objects.get(name="compliance_officer"))
    browser = Client()
    browser.force_login(officer)
    assert b'name="check_target"' in browser.get("/admin/erasure/target/add/").content
    form = {
        "name": "later-set",
        "kind": "jsonl_file",
        "country": "KH",
        "config": '{"path": "later.jsonl", "match": {"email": "email"}}',
    }
    looked = browser.post("/admin/erasure/target/add/", {**form, "check_target": "on"})
    assert looked.status_code == 200 and b"target_unreachable" in looked.content
    assert not Target.objects.exists()
    saved = browser.post("/admin/erasure/target/add/", form)
    assert saved.status_code == 302
    assert Target.objects.get().config["path"] == "later.jsonl"
