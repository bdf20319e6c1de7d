"""A target whose `operation` is "mask" keeps its rows: an erasure request, through the engine,
replaces the subject's match and mask cells, leaves every other cell and every other subject's
row as it was, and its receipt says `op: "mask"`. The plan says what each target will do. A
kind, or a config, that cannot mask is refused when the target is registered, and changes
nothing.

Tasks run in the calling process (Celery's eager mode, on PostgreSQL with real commits), as in
the embedded mode: the plan's answer comes back once the runs are done."""

import contextlib
import csv
import io
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import connection, connections

from erasure.models import ErasureRequest, Target, TargetRun
from erasure.planning import erasure_request_plan
from erasure.services import erasure_request_create, erasure_request_transition
from ledger.models import Receipt
from targets.services import target_save
from tests import identifiers
from tests.aliases import extra_alias
from tests.erasure.approvals import approve_proposed_targets
from tests.erasure.test_admin_request_page import logged_in

URL = "/api/v1/erasure-requests"
TARGETS = "/api/v1/erasure/targets"
CRM_ALIAS = "lup_mask_crm"


@pytest.fixture
def in_process(settings, transactional_db, tmp_path, monkeypatch):
    """Tasks run where they are sent; files lie under tmp_path; the CRM's DSN is in the env."""
    from config.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    db = settings.DATABASES["default"]
    monkeypatch.setenv(
        "CRM_DSN", f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    yield tmp_path
    app.conf.task_always_eager = was
    with connection.cursor() as cursor:  # a table of the test's own, beside Lup's
        cursor.execute("DROP TABLE IF EXISTS mask_contacts")


@pytest.fixture
def staff(api):
    return api("erasure:write", "erasure:read")


@pytest.fixture(scope="module")
def crm_database(django_db_setup):
    """A PostgreSQL database of its own (a CRM beside Lup's), for `sql_table` targets: Lup's
    own database is refused as a target."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_crm"[:63]
    server = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "dbname": "postgres"}
    with psycopg.connect(**server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(**server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def crm_alias(crm_database, transactional_db):
    """The CRM database as a Django alias, for this test only."""
    database = {**connections.settings["default"], "NAME": crm_database, "TEST": {}}
    with extra_alias(CRM_ALIAS, database) as alias:
        yield alias
        with contextlib.suppress(Exception), connections[alias].cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS crm_contacts")


@dataclass
class Case:
    """One kind that can mask: its target, how to read what it holds, and what it should hold
    once the subject is masked."""

    kind: str
    config: dict[str, Any]
    read: Callable[[], list]
    expected: list
    count: int


# The rows every table case starts with: (id, email, name, plan, balance). The subject's email
# is in rows 1 and 3; a mask replaces email and name there and keeps id, plan and balance.
def contacts(email: str, other: str) -> list[tuple]:
    return [
        (1, email, "Sokha", "pro", 120),
        (2, other, "Dara", "free", 0),
        (3, email, "Sokha K.", "free", 7),
    ]


def masked(rows: list[tuple], email: str, *, mail: Any, name: Any) -> list[tuple]:
    return [(r[0], mail, name, *r[3:]) if r[1] == email else r for r in rows]


TABLE_MASK = {"email": None, "name": "[erased]"}


def postgres_table(root, email, other, alias) -> Case:
    rows = contacts(email, other)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE mask_contacts (id integer PRIMARY KEY, email text, name text, "
            "plan text, balance integer)"
        )
        cursor.executemany("INSERT INTO mask_contacts VALUES (%s, %s, %s, %s, %s)", rows)

    def read():
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM mask_contacts ORDER BY id")
            return cursor.fetchall()

    return Case(
        kind="postgres_table",
        config={
            "dsn_env": "CRM_DSN",
            "table": "mask_contacts",
            "match": {"email": "email"},
            "mask": TABLE_MASK,
        },
        read=read,
        expected=masked(rows, email, mail=None, name="[erased]"),
        count=2,
    )


def sql_table(root, email, other, alias) -> Case:
    rows = contacts(email, other)
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "CREATE TABLE crm_contacts (id integer PRIMARY KEY, email text, name text, "
            "plan text, balance integer)"
        )
        cursor.executemany("INSERT INTO crm_contacts VALUES (%s, %s, %s, %s, %s)", rows)

    def read():
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT * FROM crm_contacts ORDER BY id")
            return cursor.fetchall()

    return Case(
        kind="sql_table",
        config={
            "alias": alias,
            "table": "crm_contacts",
            "match": {"email": "email"},
            "mask": {"email": "erased@invalid", "name": "[erased]"},
        },
        read=read,
        expected=masked(rows, email, mail="erased@invalid", name="[erased]"),
        count=2,
    )


def sqlite_table(root, email, other, alias) -> Case:
    rows = contacts(email, other)
    path = root / "app.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT, plan TEXT, "
            "balance INTEGER)"
        )
        db.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?)", rows)

    def read():
        with contextlib.closing(sqlite3.connect(path)) as db:
            return db.execute("SELECT * FROM users ORDER BY id").fetchall()

    return Case(
        kind="sqlite_table",
        config={
            "path": "app.db",
            "table": "users",
            "match": {"email": "email"},
            "mask": TABLE_MASK,
        },
        read=read,
        expected=masked(rows, email, mail=None, name="[erased]"),
        count=2,
    )


def csv_file(root, email, other, alias) -> Case:
    header = ("id", "email", "name", "plan", "balance")
    rows = [tuple(str(v) for v in row) for row in contacts(email, other)]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    (root / "export.csv").write_text(out.getvalue())

    def read():
        return list(csv.reader(io.StringIO((root / "export.csv").read_text())))[1:]

    return Case(
        kind="csv_file",
        config={
            "path": "export.csv",
            "match": {"email": "email"},
            "mask_columns": ["email", "name"],
            "mask_value": "[erased]",
        },
        read=lambda: [tuple(row) for row in read()],
        expected=masked(rows, email, mail="[erased]", name="[erased]"),
        count=2,
    )


def parquet_file(root, email, other, alias) -> Case:
    rows = contacts(email, other)
    columns = ("id", "email", "name", "plan", "balance")
    pq.write_table(
        pa.table({c: [row[i] for row in rows] for i, c in enumerate(columns)}),
        root / "set.parquet",
    )

    def read():
        table = pq.read_table(root / "set.parquet").to_pydict()
        return [tuple(table[c][i] for c in columns) for i in range(len(table["id"]))]

    return Case(
        kind="parquet_file",
        config={
            "path": "set.parquet",
            "match": {"email": "email"},
            "mask_columns": ["email", "name"],
            "mask_value": "[erased]",
        },
        read=read,
        expected=masked(rows, email, mail="[erased]", name="[erased]"),
        count=2,
    )


def text_log(root, email, other, alias) -> Case:
    lines = [
        f"2026-12-01T10:00:00Z login email={email} plan=pro",
        f"2026-12-01T10:00:01Z login email={other} plan=free",
        f"2026-12-01T10:00:02Z mail to={email}; cc={email}",
    ]
    (root / "app.log").write_text("\n".join(lines) + "\n")

    def read():
        return (root / "app.log").read_text().splitlines()

    return Case(
        kind="text_log",
        config={"path": "app.log", "id_types": ["email"], "mode": "redact"},
        read=read,
        expected=[line.replace(email, "[erased]") for line in lines],
        count=3,  # occurrences, in a log
    )


def target_receipts(request_id) -> list[dict]:
    return [
        payload
        for payload in (
            json.loads(bytes(r.payload)) for r in Receipt.objects.filter(type="erasure.target")
        )
        if payload["request"]["id"] == str(request_id)
    ]


@pytest.mark.parametrize(
    "case", [postgres_table, sql_table, sqlite_table, csv_file, parquet_file, text_log]
)
def test_a_masking_target_keeps_the_rows_and_masks_only_the_subject(
    case, in_process, staff, crm_alias
):
    email, other = identifiers.email().lower(), identifiers.email().lower()
    target = case(in_process, email, other, crm_alias)
    before = target.read()
    registered = staff.post(
        TARGETS,
        {
            "name": "crm-contacts",
            "kind": target.kind,
            "country": "SG",
            "always": True,
            "operation": "mask",
            "config": target.config,
        },
        format="json",
    )
    assert registered.status_code == 201, registered.json()
    assert registered.json()["operation"] == "mask"
    approve_proposed_targets()

    request_id = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()["id"]
    staff.post(f"{URL}/{request_id}/verified-manually", {"reason": "checked"}, format="json")
    planned = staff.post(f"{URL}/{request_id}/plan")
    assert planned.status_code == 201, planned.content
    plan = staff.get(f"{URL}/{request_id}/plan").json()
    assert [(t["target"], t["kind"], t["operation"]) for t in plan["targets"]] == [
        ("crm-contacts", target.kind, "mask")
    ]

    run = TargetRun.objects.get(request_id=request_id)
    assert (run.status, run.outcome, run.last_error) == ("done", "erased", ""), run.last_error
    after = target.read()
    assert len(after) == len(before)  # every row kept
    assert after == target.expected
    assert ErasureRequest.objects.get(pk=request_id).state == "completed"
    (receipt,) = target_receipts(request_id)
    assert receipt["outcome"] == "erased"
    assert receipt["action"]["op"] == "mask"
    assert receipt["action"]["count"] == str(target.count)
    assert receipt["postcheck"]["remaining"] == "0"
    # The receipt names what was done, never the subject or a masked value.
    assert email not in json.dumps(receipt)


def test_a_deleting_target_still_deletes(in_process, staff, crm_alias):
    """ "delete" is the default: a target registered without an operation removes the rows."""
    email, other = identifiers.email().lower(), identifiers.email().lower()
    target = sqlite_table(in_process, email, other, crm_alias)
    registered = staff.post(
        TARGETS,
        {"name": "app-users", "kind": "sqlite_table", "country": "SG", "always": True}
        | {"config": target.config},
        format="json",
    )
    assert registered.json()["operation"] == "delete"
    approve_proposed_targets()
    request_id = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()["id"]
    staff.post(f"{URL}/{request_id}/verified-manually", {"reason": "checked"}, format="json")
    staff.post(f"{URL}/{request_id}/plan")
    assert [row[1] for row in target.read()] == [other]
    (receipt,) = target_receipts(request_id)
    assert (receipt["action"]["op"], receipt["action"]["count"]) == ("delete", "2")


# --- refused at registration -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        # Kinds that cannot mask at all.
        ("jsonl_file", {"path": "eval.jsonl", "match": {"email": "email"}}, "kind"),
        ("redis", {"url_env": "REDIS_URL", "keys": ["user:{user_id}"]}, "kind"),
        ("manual", {"instructions": "Ask finance.", "id_types": ["email"]}, "kind"),
        # Kinds that can, with configs that give nothing to mask with.
        (
            "sqlite_table",
            {"path": "app.db", "table": "users", "match": {"email": "email"}},
            "config",
        ),
        ("text_log", {"path": "app.log", "id_types": ["email"], "mode": "drop_line"}, "config"),
        # A mask that leaves the match column: masked rows would still name the subject.
        (
            "sqlite_table",
            {"path": "app.db", "table": "users", "match": {"email": "email"}, "mask": {"n": None}},
            "config",
        ),
    ],
)
def test_mask_is_refused_where_it_cannot_be_done(
    kind, config, field, db, staff, tmp_path, settings
):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    body = {"name": "nope", "kind": kind, "country": "SG", "operation": "mask", "config": config}
    body["check"] = False  # the operation is what is refused here, not a missing file
    refused = staff.post(TARGETS, body, format="json")
    assert refused.status_code == 400, refused.json()
    assert refused.json()["code"] == "operation_not_supported"
    assert refused.json()["fields"]["operation"] == "mask"
    assert field in refused.json()["fields"]
    assert not Target.objects.exists()
    # The same registration, deleting, is accepted: only the operation was wrong.
    accepted = staff.post(TARGETS, body | {"operation": "delete"}, format="json")
    assert accepted.status_code == 201, accepted.json()


def test_a_table_without_a_mask_config_says_what_is_missing(db, staff, tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    config = {"path": "app.db", "table": "users", "match": {"email": "email"}}
    body = {"name": "app-users", "kind": "sqlite_table", "country": "SG", "operation": "mask"}
    refused = staff.post(TARGETS, body | {"config": config}, format="json").json()
    assert refused["code"] == "operation_not_supported"
    assert "mask" in refused["detail"] and "config" in refused["detail"]


def test_an_unknown_operation_is_refused(db, staff, tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    body = {
        "name": "eval",
        "kind": "jsonl_file",
        "country": "SG",
        "operation": "shred",
        "config": {"path": "eval.jsonl", "match": {"email": "email"}},
    }
    refused = staff.post(TARGETS, body, format="json")
    assert refused.status_code == 400
    assert "operation" in refused.json()["fields"]
    assert not Target.objects.exists()


def test_changing_an_always_target_to_mask_waits_for_approval(db, staff, tmp_path, settings):
    """A change of operation is a change of what the target does: proposed, like its config."""
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    with contextlib.closing(sqlite3.connect(tmp_path / "app.db")) as db:
        db.execute("CREATE TABLE users (id TEXT, email TEXT, name TEXT)")
    config = {"path": "app.db", "table": "users", "match": {"email": "email"}}
    body = {"name": "app-users", "kind": "sqlite_table", "country": "SG", "always": True}
    created = staff.post(TARGETS, body | {"config": config}, format="json").json()
    approve_proposed_targets()
    changed = staff.put(
        f"{TARGETS}/{created['id']}",
        body
        | {"operation": "mask", "config": config | {"mask": {"name": "[erased]", "email": None}}},
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["operation"] == "delete"  # works as it was meanwhile
    assert changed.json()["proposal"]["operation"] == "mask"
    approve_proposed_targets()
    assert Target.objects.get(pk=created["id"]).operation == "mask"


def test_the_openapi_describes_operation_as_an_enum(db, client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    components = schema.json()["components"]["schemas"]

    def enum(prop: dict) -> list:
        ref = prop.get("$ref") or prop["allOf"][0]["$ref"]
        return components[ref.rsplit("/", 1)[1]]["enum"]

    # A target's schema is one per kind (a oneOf on `kind`); each has the operation.
    for name in ("TargetInputSqliteTable", "TargetJsonlFile", "PlanEntry"):
        assert enum(components[name]["properties"]["operation"]) == ["delete", "mask"], name


# --- the admin ---------------------------------------------------------------------------------


def test_the_admin_shows_the_operation_in_the_plan_and_refuses_mask_where_it_cannot(
    db, django_user_model, tmp_path, settings
):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    sqlite_table(tmp_path, identifiers.email().lower(), identifiers.email().lower(), None)
    config = {"path": "app.db", "table": "users", "match": {"email": "email"}, "mask": TABLE_MASK}
    target_save(
        name="app-users",
        kind="sqlite_table",
        country="SG",
        always=True,
        operation="mask",
        config=config,
        preapproved="loaded by the test's operator",
    )
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": identifiers.email()}],
        country="TH",
        channel="admin",
        actor="staff:intake",
    )
    erasure_request_transition(request=request, to_state="verified", actor="staff:i", reason="ok")
    erasure_request_plan(request=request, actor="system")
    officer = logged_in(django_user_model, "compliance_officer")
    html = officer.get(f"/admin/erasure/erasurerequest/{request.pk}/change/").content.decode()
    assert '<td class="operation">mask</td>' in html
    svg = re.search(r'<svg [^>]*aria-label="The plan.*?</svg>', html, re.S).group(0)
    assert "target · sqlite_table · mask" in svg
    entry = request.plan.get()
    explained = officer.get(f"/admin/erasure/erasurerequest/{request.pk}/plan/{entry.pk}/")
    assert '<strong class="operation">mask</strong>' in explained.content.decode()

    engineer = logged_in(django_user_model, "engineer")
    form = {
        "name": "eval-logs",
        "kind": "jsonl_file",
        "country": "KH",
        "operation": "mask",
        "config": json.dumps({"path": "evals.jsonl", "match": {"email": "email"}}),
        "_save": "Save",
    }
    refused = engineer.post("/admin/erasure/target/add/", form)
    assert refused.status_code == 200
    assert "operation_not_supported" in refused.content.decode()
    assert not Target.objects.filter(name="eval-logs").exists()
    added = engineer.post("/admin/erasure/target/add/", form | {"operation": "delete"})
    assert added.status_code == 302
    assert Target.objects.get(name="eval-logs").operation == "delete"
