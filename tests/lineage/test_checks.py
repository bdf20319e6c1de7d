"""A node budget that is not a positive whole number fails at startup (lup.E070)."""

import pytest
from django.core.checks import run_checks


@pytest.mark.parametrize("value", [0, -5, "many", True])
def test_a_bad_node_budget_fails_the_check(settings, value):
    settings.LUP_LINEAGE_MAX_NODES = value
    (error,) = [e for e in run_checks() if e.id == "lup.E070"]
    assert "LUP_LINEAGE_MAX_NODES" in error.msg


def test_the_default_budget_passes(settings):
    assert settings.LUP_LINEAGE_MAX_NODES == 10_000
    assert not [e for e in run_checks() if e.id == "lup.E070"]
