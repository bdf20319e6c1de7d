"""The config contract of every kind in CONNECTORS: a config that is not one the kind can use is
refused with ConnectorConfigError (`invalid_target_config`, or a subclass's code), never any
other exception, so registering a target can answer 400 but never 500."""

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import CONNECTORS, ConnectorConfigError, connector_for
from connectors.config import MAX_ITEMS, MAX_STRING
from erasure.models import Target

# A config each kind accepts; every case below breaks one thing in it.
VALID = {
    "postgres_table": {"dsn_env": "CRM_DSN", "table": "crm.contacts", "match": {"email": "email"}},
    "sqlite_table": {"path": "app.db", "table": "users", "match": {"email": "email"}},
    "sql_table": {"table": "crm_people", "match": {"email": "email"}},
    "jsonl_file": {"path": "evals/set.jsonl", "match": {"email": "user.email"}},
    "csv_file": {"path": "exports/users.csv", "match": {"email": "email"}},
    "parquet_file": {"path": "evals/set.parquet", "match": {"email": "email"}},
    "delta_table": {"path": "lake/tickets", "match": {"email": "email"}},
    "hf_dataset": {"path": "datasets/qa", "match": {"email": "email"}, "cache_dir": "hf-cache"},
    "lance_table": {
        "path": "vectors",
        "table": "chunks",
        "match": {"email": "email"},
        "vector_column": "vector",
        "history": {"policy": "purged"},
    },
    "iceberg_table": {
        "catalog_uri_env": "LAKE_URL",
        "table": "crm.people",
        "match": {"email": "email"},
    },
    "text_log": {"path": "logs/app.log", "id_types": ["email"]},
    "s3_objects": {"bucket": "evals", "format": "jsonl", "match": {"email": "user.email"}},
    "django_cache": {"keys": ["profile:{user_id}"]},
    "redis": {"url_env": "CACHE_URL", "keys": ["session:{user_id}"]},
    "manual": {"instructions": "Delete the tickets.", "id_types": ["email"]},
    "webhook": {
        "url": "https://crm.example.org/erase",
        "secret_env": "CRM_SECRET",
        "id_types": ["email"],
    },
}

# What each key holds; a value of any other shape is refused.
SHAPES = {
    "access_key_id_env": str,
    "alias": str,
    "batch_size": int,
    "bucket": str,
    "credentials_file": str,
    "cache_dir": str,
    "catalog_name": str,
    "catalog_uri_env": str,
    "catalog_uri_file": str,
    "delimiter": str,
    "dir": str,
    "dsn_env": str,
    "dsn_file": str,
    "encoding": str,
    "endpoint_url": str,
    "format": str,
    "gzip": bool,
    "glob": str,
    "hash_fields": list,
    "history": dict,
    "id_types": list,
    "instructions": str,
    "keep_history": dict,
    "keys": list,
    "mask": dict,
    "mask_columns": list,
    "mask_value": str,
    "match": dict,
    "mode": str,
    "path": str,
    "prefix": str,
    "profile": str,
    "region": str,
    "resolve": dict,
    "rotated": bool,
    "scan_count": int,
    "secret_access_key_env": str,
    "secret_env": str,
    "secret_file": str,
    "set_members": list,
    "stream_entries": list,
    "suffix": str,
    "table": str,
    "timeout_seconds": float,  # any number
    "uri": str,
    "url": str,
    "url_env": str,
    "url_file": str,
    "vector_column": str,
    "warehouse_uri": str,
    "zset_members": list,
}
WRONG = {
    str: [1, True, 1.5, [], ["x"], {}, {"a": "b"}, "\x00", "\ud800"],
    int: ["abc", "10", 1.5, True, -1, [], [1], {}, {"a": 1}],
    float: ["abc", "1", True, [], {}, -1, float("nan"), float("inf")],
    bool: ["true", 1, 0, "", [], {}],
    list: ["x", 1, True, {}, {"a": "b"}, [None], [[]], [{}]],
    dict: ["x", 1, True, [], ["a"], {"email": 1}, {"email": ["x"]}, {"": "x"}],
}
# Keys without which no target can be built: null there is refused too.
REQUIRED = {
    "postgres_table": ["dsn_env", "table", "match"],
    "sqlite_table": ["path", "table", "match"],
    "sql_table": ["table", "match"],
    "jsonl_file": ["path", "match"],
    "csv_file": ["path", "match"],
    "parquet_file": ["path", "match"],
    "delta_table": ["path", "match"],
    "hf_dataset": ["path", "match"],
    "lance_table": ["path", "table", "match"],
    "iceberg_table": ["catalog_uri_env", "table", "match"],
    "text_log": ["path", "id_types"],
    "s3_objects": ["bucket", "format", "match"],
    "django_cache": ["keys"],
    "redis": ["url_env"],
    "manual": ["instructions", "id_types"],
    "webhook": ["url", "secret_env", "id_types"],
}


@pytest.fixture(autouse=True)
def roots(tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return tmp_path


def refused(kind, config) -> ConnectorConfigError:
    with pytest.raises(ConnectorConfigError) as excinfo:
        connector_for(kind, config)
    return excinfo.value


def settings_keys(kind):
    return sorted(CONNECTORS[kind].config_keys | {"timeout_seconds"})


def test_every_kind_is_covered_and_its_valid_config_builds():
    assert set(VALID) == set(CONNECTORS) == set(REQUIRED)
    for kind, config in VALID.items():
        assert connector_for(kind, config).kind == kind
        assert set(settings_keys(kind)) <= set(SHAPES), f"give {kind}'s new keys a shape"


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
@pytest.mark.parametrize("config", [None, [], "path", 1, True, ["match"], {}])
def test_a_config_that_is_not_an_object_or_is_empty_is_refused(kind, config):
    refused(kind, config)


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
@pytest.mark.parametrize("key", ["matches", "Path", "", "timeout", "x" * 5000])
def test_unknown_keys_are_refused_by_name(kind, key):
    error = refused(kind, {**VALID[kind], key: "anything"})
    assert error.fields == {key[:64]: "unknown key"}


@pytest.mark.parametrize(
    ("kind", "key"), [(kind, key) for kind in sorted(CONNECTORS) for key in settings_keys(kind)]
)
def test_a_value_of_the_wrong_shape_is_refused_for_every_key(kind, key):
    for value in WRONG[SHAPES[key]]:
        error = refused(kind, {**VALID[kind], key: value})
        assert error.code in ("invalid_target_config", "path_outside_roots"), (key, value)


@pytest.mark.parametrize(
    ("kind", "key"), [(kind, key) for kind in sorted(CONNECTORS) for key in REQUIRED[kind]]
)
def test_required_keys_missing_or_null_are_refused(kind, key):
    without = {k: v for k, v in VALID[kind].items() if k != key}
    refused(kind, without)
    refused(kind, {**without, key: None})


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
def test_huge_and_deeply_nested_values_are_refused(kind):
    huge_text, huge_list = "x" * (MAX_STRING + 1), ["x"] * (MAX_ITEMS + 1)
    deep: object = "x"
    for _ in range(40):
        deep = {"a": deep}
    for key in settings_keys(kind):
        for value in (huge_text, huge_list, {"email": huge_text}, deep, [deep]):
            refused(kind, {**VALID[kind], key: value})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["email", "user.email", "{user_id}", "a:{email}", "a.log", "\x00", "\ud800"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_json_config_builds_or_is_refused_with_a_config_error(kind, data):
    """Known keys with arbitrary JSON values, over the valid config or on their own."""
    keys = st.sampled_from([*settings_keys(kind), "other"])
    changes = data.draw(st.dictionaries(keys, json_values, max_size=4))
    base = data.draw(st.sampled_from([VALID[kind], {}]))
    with contextlib.suppress(ConnectorConfigError):
        connector_for(kind, {**base, **changes})


# --- through the API ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "config"),
    [
        ("sql_table", {**VALID["sql_table"], "batch_size": "abc"}),
        ("sqlite_table", {**VALID["sqlite_table"], "batch_size": "abc"}),
        ("sql_table", {**VALID["sql_table"], "batch_size": -5}),
        ("sqlite_table", {**VALID["sqlite_table"], "where": "1 = 1"}),
    ],
)
def test_registering_a_target_with_a_bad_batch_size_answers_400_and_stores_nothing(
    api, kind, config
):
    response = api("erasure:write").post(
        "/api/v1/erasure/targets",
        {"name": "crm-people", "kind": kind, "country": "KH", "config": config},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_target_config"
    assert not Target.objects.exists()
