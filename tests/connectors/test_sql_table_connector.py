"""The sql_table connector on a Django database alias (here the PostgreSQL test database)."""

import pytest
from django.db import connection

from connectors import connector_for
from connectors.base import ConnectorConfigError
from tests import identifiers

pytestmark = pytest.mark.django_db


@pytest.fixture
def contacts():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE crm_people (email text, name text, ext text)")
    return "crm_people"


def rows():
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, name, ext FROM crm_people ORDER BY ext")
        return cursor.fetchall()


def config(**overrides):
    return {
        "table": "crm_people",
        "match": {"email": "email"},
        "mask": {"name": "[erased]", "email": None},
        "resolve": {"user_id": "ext"},
        **overrides,
    }


def test_delete_mask_verify_and_resolve(contacts):
    email = identifiers.email().lower()
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO crm_people VALUES (%s, %s, %s)",
            [(email, "Sokha", "e1"), ("x" + email, "Dara", "e2"), (email, "Sokha", "e3")],
        )
    table = connector_for("sql_table", config())
    values = {"email": [email]}
    assert table.locate(values).count == 2
    assert table.resolve(values, want="user_id") == ["e1", "e3"]
    masked = table.erase(values, op="mask")
    assert (masked.op, masked.count) == ("mask", 2)
    assert table.verify(values).remaining == 0
    assert rows() == [
        (None, "[erased]", "e1"),
        ("x" + email, "Dara", "e2"),
        (None, "[erased]", "e3"),
    ]
    other = {"email": ["x" + email]}
    assert table.erase(other).count == 1
    assert table.verify(other).remaining == 0


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"table": "crm_people; DROP TABLE crm_people"}, "invalid_target_config"),
        ({"match": {"email": "email = email"}}, "invalid_target_config"),
        ({"alias": "elsewhere"}, "invalid_target_config"),
    ],
)
def test_bad_names_are_refused_when_configured(contacts, overrides, code):
    with pytest.raises(ConnectorConfigError) as err:
        connector_for("sql_table", config(**overrides))
    assert err.value.code == code


@pytest.mark.parametrize(
    ("overrides", "code"),
    [({"table": "nowhere"}, "unknown_table"), ({"match": {"email": "mail"}}, "unknown_column")],
)
def test_names_not_in_the_catalog_are_refused_before_any_statement(contacts, overrides, code):
    with pytest.raises(ConnectorConfigError) as err:
        connector_for("sql_table", config(**overrides)).locate({"email": ["a@example.org"]})
    assert err.value.code == code
    assert rows() == []
