"""The byte prefilter of the line-based file kinds never changes what a pass does: over generated
files full of lookalikes of the values (prefixes and suffixes, other cases, JSON escapes, values
inside other values, Khmer text around them), erasing and checking with the prefilter gives the
same bytes and the same counts per request as parsing every line. No database."""

import csv
import gzip
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import connector_for, prefilter
from connectors.text_log import TextLog

EMAILS = ["a@example.org", "a+b@example.org", "ü@bücher.de", "kim@example.org"]
UIDS = ["u1", "u10", "សុខ", 'x"y', "a/b", "7"]
PHONES = ["+85512345678"]
KHMER = ["", "សួស្តី", "ខ្មែរ", "ទូរស័ព្ទ"]


def lookalikes(value: str) -> list[str]:
    """Forms a line may hold that the exact matcher must, or must not, take for `value`."""
    escaped = "".join(f"\\u{ord(c):04x}" if c in "@/ü" else c for c in value)
    return [
        value,
        value.upper(),
        value.title(),
        f"  {value} ",
        value[:-1] or value,
        value + "0",
        "b" + value,
        value + ".kh",
        value.replace("k", "\u212a").replace("i", "\u0131"),  # KELVIN SIGN, dotless i
        escaped,  # only meaningful inside JSON
        json.dumps(value)[1:-1],
    ]


FORMS = sorted({form for v in EMAILS + UIDS + PHONES for form in lookalikes(v)} | {"85512345678"})
form = st.sampled_from(FORMS)
context = st.sampled_from([*KHMER, " ", "=", "."])
values = st.fixed_dictionaries(
    {
        "email": st.lists(st.sampled_from(EMAILS), min_size=1, max_size=3, unique=True),
        "user_id": st.lists(st.sampled_from(UIDS), min_size=1, max_size=3, unique=True),
    }
)
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def roots(tmp_path, settings):
    root = tmp_path / "files"
    root.mkdir()
    settings.LUP_FILE_ROOTS = [str(root)]
    return root


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Blocks of a few lines, so candidates fall on block boundaries too."""
    monkeypatch.setattr(prefilter, "BLOCK_BYTES", 97)


def both_ways(monkeypatch, roots, name: str, content: bytes, make, groups, op="delete"):
    """(file bytes, erased counts, counts left) with the prefilter, then without it."""
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(prefilter, "ENABLED", enabled)
        (roots / name).write_bytes(content)
        target = make(name)
        erased = {k: e.count for k, e in target.erase_groups(groups, op=op).items()}
        left = {k: v.remaining for k, v in target.verify_groups(groups).items()}
        results.append(((roots / name).read_bytes(), erased, left))
    return results


def split(chosen: dict[str, list[str]]) -> dict:
    """Two requests from the chosen values (the second one may share a value)."""
    first = {t: v[:1] for t, v in chosen.items()}
    second = {t: v[1:] or v for t, v in chosen.items()}
    return {"first": first, "second": second}


@st.composite
def jsonl_lines(draw) -> bytes:
    out = []
    for _ in range(draw(st.integers(0, 25))):
        email, uid, note = draw(form), draw(form), draw(context)
        kind = draw(st.sampled_from(["record", "escaped", "flat", "int", "text", "array", "blank"]))
        if kind == "record":
            record = {"user": {"email": email}, "uid": uid, "note": note}
            text = json.dumps(record, ensure_ascii=draw(st.booleans()))
        elif kind == "escaped":  # the same record with its slashes escaped
            text = json.dumps({"user": {"email": email}, "uid": uid}).replace("/", "\\/")
        elif kind == "flat":  # a form spliced in as raw text, valid JSON or not
            text = '{"uid": "' + uid + '", "user": {"email": "' + email + '"}}'
        elif kind == "int":
            text = json.dumps({"uid": draw(st.integers(0, 20)), "user": {"email": email}})
        elif kind == "text":
            text = f"{note}{email}{note} not json"
        elif kind == "array":
            text = json.dumps([uid, email])
        else:
            text = ""
        out.append(text.encode() + b"\n")
    if out and draw(st.booleans()):
        out[-1] = out[-1].rstrip(b"\n")
    return b"".join(out)


@SETTINGS
@given(content=jsonl_lines(), chosen=values)
def test_jsonl_passes_are_the_same_with_and_without_the_prefilter(
    roots, monkeypatch, content, chosen
):
    def make(name):
        return connector_for(
            "jsonl_file", {"path": name, "match": {"email": "user.email", "user_id": "uid"}}
        )

    sifted, plain = both_ways(monkeypatch, roots, "eval.jsonl", content, make, split(chosen))
    assert sifted == plain


@st.composite
def log_lines(draw) -> bytes:
    out = []
    for _ in range(draw(st.integers(0, 25))):
        parts = draw(st.lists(st.tuples(context, form), max_size=4))
        text = "".join(f"{before}{value}" for before, value in parts) + draw(context)
        out.append(text.encode() + b"\n")
    if out and draw(st.booleans()):
        out[-1] = out[-1].rstrip(b"\n")
    return b"".join(out)


@SETTINGS
@given(
    content=log_lines(),
    chosen=values,
    mode=st.sampled_from(["redact", "drop_line"]),
    phones=st.sampled_from([[], PHONES]),
)
def test_text_log_passes_are_the_same_with_and_without_the_prefilter(
    roots, monkeypatch, content, chosen, mode, phones
):
    def make(name):
        return TextLog(
            config={"path": name, "id_types": ["email", "user_id", "phone"], "mode": mode}
        )

    groups = split(chosen)
    if phones:
        groups["first"]["phone"] = phones
    sifted, plain = both_ways(monkeypatch, roots, "app.log", content, make, groups)
    assert sifted == plain


@st.composite
def csv_rows(draw) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(["id", "email", "uid", "note"])
    for number in range(draw(st.integers(0, 25))):
        row = [str(number), draw(form), draw(form), draw(context) + draw(form)]
        if draw(st.booleans()):
            row[3] += "\non two lines"  # quoted, spanning lines
        writer.writerow(row[: draw(st.integers(1, 4))])  # short rows too
    return out.getvalue().encode()


@SETTINGS
@given(content=csv_rows(), chosen=values, op=st.sampled_from(["delete", "mask"]))
def test_csv_passes_are_the_same_with_and_without_the_prefilter(
    roots, monkeypatch, content, chosen, op
):
    def make(name):
        return connector_for(
            "csv_file", {"path": name, "match": {"email": "email", "user_id": "uid"}}
        )

    sifted, plain = both_ways(monkeypatch, roots, "users.csv", content, make, split(chosen), op)
    assert sifted == plain


def test_a_value_spelled_with_a_json_escape_is_still_erased(roots):
    """The raw line does not hold the value's bytes; the backslash makes it a candidate."""
    path = roots / "eval.jsonl"
    path.write_bytes(
        b'{"uid": "a\\/b"}\n{"uid": "keep"}\n{"user": {"email": "A\\u0040Example.org"}}\n'
    )
    target = connector_for(
        "jsonl_file", {"path": "eval.jsonl", "match": {"email": "user.email", "user_id": "uid"}}
    )
    assert target.erase({"user_id": ["a/b"], "email": ["a@example.org"]}).count == 2
    assert path.read_bytes() == b'{"uid": "keep"}\n'


def test_an_email_in_another_case_or_with_a_kelvin_sign_is_still_erased(roots):
    path = roots / "eval.jsonl"
    lines = [
        '{"user": {"email": "KIM@EXAMPLE.ORG"}}',
        '{"user": {"email": "\u212aim@example.org"}}',
    ]
    path.write_text("\n".join(lines) + '\n{"user": {"email": "kimo@example.org"}}\n')
    target = connector_for("jsonl_file", {"path": "eval.jsonl", "match": {"email": "user.email"}})
    assert target.erase({"email": ["kim@example.org"]}).count == 2
    assert path.read_text() == '{"user": {"email": "kimo@example.org"}}\n'


@SETTINGS
@given(content=log_lines(), chosen=values)
def test_gzip_logs_are_sifted_after_decompression(roots, monkeypatch, content, chosen):
    """A gzip log is looked through as its decompressed lines: the same content as without
    the prefilter, compared decompressed."""

    def make(name):
        return TextLog(config={"path": name, "id_types": ["email", "user_id"]})

    results = []
    for enabled in (True, False):
        monkeypatch.setattr(prefilter, "ENABLED", enabled)
        (roots / "app.log.gz").write_bytes(gzip.compress(content))
        erased = {k: e.count for k, e in make("app.log.gz").erase_groups(split(chosen)).items()}
        results.append((gzip.decompress((roots / "app.log.gz").read_bytes()), erased))
    assert results[0] == results[1]
