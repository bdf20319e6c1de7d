"""`ledger_audit` says how far it got on stderr: leaves checked of the log's size, and rate."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ledger.audit import AuditReport
from ledger.services import checkpoint_create
from tests.ledger.factories import issue

pytestmark = pytest.mark.django_db


def test_progress_lines_count_leaves_against_the_log_size():
    issue(2500)
    checkpoint_create()
    out, err = StringIO(), StringIO()
    call_command("ledger_audit", progress_every=0, stdout=out, stderr=err)
    assert "Audited 2500 leaves" in out.getvalue()
    lines = err.getvalue().splitlines()
    counted = [
        re.match(r"^ledger_audit: ([\d,]+) of 2,500 leaves in \d+ s", line) for line in lines
    ]
    assert all(counted), lines
    assert [m.group(1) for m in counted] == ["1,000", "2,000", "2,500", "2,500"]
    assert "(100%" in lines[-1] and lines[-1].endswith(", done")


def test_quiet_with_verbosity_zero():
    issue(3)
    err = StringIO()
    call_command("ledger_audit", verbosity=0, stdout=StringIO(), stderr=err)
    assert err.getvalue() == ""


def test_a_mismatch_is_still_reported_after_the_progress(monkeypatch):
    issue(3)
    problem = "index 1: leaf does not match its stored hash"

    def audit_log(progress):
        progress(3)
        return AuditReport(size=3, problems=[problem])

    monkeypatch.setattr("ledger.services.audit_log", audit_log)
    err = StringIO()
    with pytest.raises(CommandError, match="1 mismatch"):
        call_command("ledger_audit", stdout=StringIO(), stderr=err)
    lines = err.getvalue().splitlines()
    assert lines[-2].startswith("ledger_audit: 3 of 3 leaves") and lines[-2].endswith("done")
    assert lines[-1] == f"MISMATCH {problem}"
