"""The framework data files: the shipped ones load and cover AI Verify's twelve principles, every
gap code a readiness section can report is known to the loader, and a broken file stops
startup with a system check naming the file and the field (lup.E080 malformed, lup.E081 an
unknown reference, lup.E082 what AI Verify's import would refuse)."""

import re
import shutil
from pathlib import Path

import pytest
import yaml
from django.core.checks import run_checks

from reports.frameworks import catalog

READINESS = Path(catalog.__file__).resolve().parents[1] / "readiness"
MODULES = {"cross_border": "transfers", "strictest_market": "rules"}  # else named as the section


def test_the_shipped_files_load_and_name_their_sources():
    loaded = catalog.load_directory(catalog.DATA_DIR)
    assert set(loaded.frameworks) == {"aiverify", "asean", "model-ai-gov", "genai"}
    aiverify = loaded.frameworks["aiverify"]
    assert aiverify.groups == catalog.AIVERIFY_PRINCIPLES
    assert all(catalog.PID.match(item.id) for item in aiverify.items)
    # 8.2.1 is the data-provenance record: provenance and a location, no no_provenance gap.
    (provenance,) = [item for item in aiverify.items if item.id == "8.2.1"]
    assert provenance.group == "Data Governance" and "provenance" in provenance.evidence
    assert "no_provenance" in loaded.conditions["provenance"].gaps
    assert len(loaded.frameworks["asean"].groups) == 7
    assert len(loaded.frameworks["model-ai-gov"].groups) == 4
    assert len(loaded.frameworks["genai"].groups) == 9
    for framework in loaded.frameworks.values():
        assert framework.sources and all(s.url.startswith("https://") for s in framework.sources)
        assert any(item.operator for item in framework.items), framework.slug
    assert not [e for e in run_checks() if e.id.startswith("lup.E08")]


def test_the_loader_knows_every_gap_code_each_section_reports():
    """A code missing from SECTION_GAPS could not be named in evidence.yaml; one in it that no
    section reports would be a condition that never breaks."""
    for section, codes in catalog.SECTION_GAPS.items():
        text = (READINESS / f"{MODULES.get(section, section)}.py").read_text()
        found = set(re.findall(r'gap\(\s*"(\w+)"', text)) | set(
            re.findall(r'"code": "(\w+)"', text)
        )
        assert found == codes, section


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A copy of the data files the checks read instead of the shipped ones."""
    copy = tmp_path / "data"
    shutil.copytree(catalog.DATA_DIR, copy)
    monkeypatch.setattr(catalog, "DATA_DIR", copy)
    return copy


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))


def _error(check_id: str):
    (error,) = [e for e in run_checks() if e.id.startswith("lup.E08")]
    assert error.id == check_id
    return error


def _aiverify_item(data: dict, pid: str) -> dict:
    return next(i for g in data["groups"] for i in g["items"] if i["id"] == pid)


def test_an_unparsable_file_is_lup_e080(data_dir):
    (data_dir / "asean.yaml").write_text("groups: [unclosed\n")
    error = _error("lup.E080")
    assert "asean.yaml" in error.msg and error.obj.endswith("asean.yaml")


def test_an_item_with_both_evidence_and_operator_is_lup_e080(data_dir):
    _edit(data_dir / "aiverify.yaml", lambda d: _aiverify_item(d, "8.2.1").update(operator=True))
    error = _error("lup.E080")
    assert "aiverify.yaml" in error.msg and "groups[7].items[1]" in error.msg


def test_an_unknown_condition_is_lup_e081(data_dir):
    _edit(
        data_dir / "genai.yaml",
        lambda d: d["groups"][1]["items"][0].update(evidence=["provenence"]),
    )
    error = _error("lup.E081")
    assert "'provenence' is not a condition" in error.msg


def test_a_gap_code_the_section_never_reports_is_lup_e081(data_dir):
    _edit(
        data_dir / "evidence.yaml",
        lambda d: d["conditions"]["provenance"].update(gaps=["no_provenance", "no_storage"]),
    )
    error = _error("lup.E081")
    assert "evidence.yaml" in error.msg and "conditions.provenance.gaps" in error.msg
    assert "no_storage" in error.msg


def test_a_sheet_name_or_pid_ai_verify_would_not_import_is_lup_e082(data_dir):
    _edit(data_dir / "aiverify.yaml", lambda d: d["groups"][7].update(name="Data governance"))
    assert "is not an AI Verify principle" in _error("lup.E082").msg


def test_a_bad_pid_is_lup_e082(data_dir):
    _edit(data_dir / "aiverify.yaml", lambda d: _aiverify_item(d, "8.2.1").update(id="8-2-1"))
    assert "'8-2-1' is not a process id" in _error("lup.E082").msg


def test_a_missing_principle_is_lup_e082(data_dir):
    _edit(data_dir / "aiverify.yaml", lambda d: d["groups"].pop())
    assert "missing Organisational Considerations" in _error("lup.E082").msg
