"""The sqlite_table connector: confined to the file roots, names checked, values bound."""

import sqlite3

import pytest

from connectors import connector_for
from connectors.base import Capability, ConnectorConfigError, NotSupported
from tests import identifiers


@pytest.fixture
def database(tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id TEXT, email TEXT)")
    return path


def config(**overrides):
    return {
        "path": "app.db",
        "table": "users",
        "match": {"email": "email"},
        "resolve": {"user_id": "id"},
        **overrides,
    }


def test_erase_verify_and_resolve(database):
    email = identifiers.email().lower()
    with sqlite3.connect(database) as db:
        db.executemany(
            "INSERT INTO users VALUES (?, ?)",
            [("u1", email), ("u2", "other@example.org"), ("u3", email)],
        )
    table = connector_for("sqlite_table", config())
    values = {"email": [email]}
    assert table.locate(values).count == 2
    assert table.resolve(values, want="user_id") == ["u1", "u3"]
    erased = table.erase(values)
    assert (erased.op, erased.count) == ("delete", 2)
    assert table.verify(values).remaining == 0
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT id FROM users").fetchall() == [("u2",)]


def test_mask_keeps_the_rows_and_a_masked_row_is_not_found_again(database):
    email = identifiers.email().lower()
    with sqlite3.connect(database) as db:
        db.executemany(
            "INSERT INTO users VALUES (?, ?)", [("u1", email), ("u2", "other@example.org")]
        )
    table = connector_for("sqlite_table", config(mask={"email": "erased@invalid", "id": None}))
    values = {"email": [email]}
    masked = table.erase_groups({"r1": values}, op="mask")["r1"]
    assert (masked.op, masked.count) == ("mask", 1)
    assert table.verify_groups({"r1": values})["r1"].remaining == 0
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT id, email FROM users ORDER BY rowid").fetchall() == [
            (None, "erased@invalid"),
            ("u2", "other@example.org"),
        ]
    # Asked again (a retried task), nothing more is changed.
    assert table.erase_groups({"r1": values}, op="mask")["r1"].count == 0


def test_without_a_mask_config_the_target_cannot_mask(database):
    table = connector_for("sqlite_table", config())
    assert Capability.MASK not in table.capabilities
    with pytest.raises(NotSupported):
        table.erase({"email": ["a@example.org"]}, op="mask")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"table": "users; DROP TABLE users"}, "invalid_target_config"),
        ({"mask": {"nmae": "[erased]"}}, "unknown_column"),
        ({"mask": {"email": 7}}, "invalid_target_config"),
        ({"match": {"email": "email) OR (1"}}, "invalid_target_config"),
        ({"path": "../elsewhere.db"}, "path_outside_roots"),
        ({"table": "accounts"}, "unknown_table"),
        ({"match": {"email": "mail"}}, "unknown_column"),
    ],
)
def test_bad_config_is_refused_before_any_statement(database, overrides, code):
    with pytest.raises(ConnectorConfigError) as err:
        connector_for("sqlite_table", config(**overrides)).locate({"email": ["a@example.org"]})
    assert err.value.code == code
    with sqlite3.connect(database) as db:  # the table is still there
        assert db.execute("SELECT count(*) FROM users").fetchone() == (0,)
