"""The OpenAPI document describes a target's `config` per kind (a `oneOf` with a discriminator on
`kind`), and README's config reference is the one the kinds' schemas make."""

import pytest
from django.core.management import CommandError, call_command
from drf_spectacular.generators import SchemaGenerator

from connectors import CONNECTORS
from connectors.reference import markdown
from targets.management.commands.connector_reference import readme_path, readme_section
from targets.openapi import openapi_schema


@pytest.fixture(scope="module")
def components():
    return SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]


@pytest.mark.parametrize("name", ["TargetInput", "Target"])
def test_the_target_is_a_one_of_with_a_discriminator_on_kind_for_every_kind(components, name):
    union = components[name]
    assert union["discriminator"]["propertyName"] == "kind"
    mapping = union["discriminator"]["mapping"]
    assert set(mapping) == set(CONNECTORS)
    assert sorted(ref["$ref"] for ref in union["oneOf"]) == sorted(mapping.values())
    for kind, ref in mapping.items():
        variant = components[ref.rsplit("/", 1)[1]]
        kind_enum = components[variant["properties"]["kind"]["$ref"].rsplit("/", 1)[1]]
        assert kind_enum["enum"] == [kind]
        config = variant["properties"]["config"]
        assert config == openapi_schema(CONNECTORS[kind].config_schema)
        assert config["additionalProperties"] is False
        assert config["example"] == CONNECTORS[kind].config_schema["examples"][0]


def test_registration_documents_check_and_its_refusals():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    post = schema["paths"]["/api/v1/erasure/targets"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/TargetInput"
    )
    assert "target_unreachable" in post["responses"]["400"]["description"]
    variant = schema["components"]["schemas"]["TargetInputJsonlFile"]
    assert variant["properties"]["check"]["type"] == "boolean"


def test_the_readme_carries_the_reference_the_schemas_make():
    """Run `python manage.py connector_reference --write` when this fails."""
    assert readme_section(readme_path().read_text()) == markdown().strip("\n")
    call_command("connector_reference", "--check")


def test_the_reference_names_every_key_of_every_kind_and_an_example():
    text = markdown()
    for kind, cls in CONNECTORS.items():
        section = text.split(f"##### `{kind}`\n", 1)[1].split("\n##### ", 1)[0]
        for key in cls.config_schema["properties"]:
            assert f"| `{key}` |" in section, (kind, key)
        assert section.count("```json") == 1


def test_the_check_fails_when_the_readme_is_out_of_date(tmp_path, monkeypatch):
    stale = tmp_path / "README.md"
    text = readme_path().read_text()
    stale.write_text(text.replace("| `dsn_env` |", "| `dsn` |", 1))
    monkeypatch.setattr(
        "targets.management.commands.connector_reference.readme_path", lambda: stale
    )
    with pytest.raises(CommandError, match="out of date"):
        call_command("connector_reference", "--check")
    call_command("connector_reference", "--write")
    assert stale.read_text() == text
