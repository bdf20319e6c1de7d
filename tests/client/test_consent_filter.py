"""`lup consent filter` and the client's consent helpers keep exactly the rows whose subject
may be used, in order, and say why the others were dropped without naming anyone."""

import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from consent.models import Purpose
from tests import identifiers
from tests.consent import factories as f

PURPOSE = "train_ai_system"


@pytest.fixture
def people(transactional_db):
    """Six subjects who agreed, two who withdrew, two who refused; and two strangers."""
    f.notice()
    assert Purpose.objects.filter(key=PURPOSE).exists()
    given = [identifiers.email() for _ in range(6)]
    withdrawn = [identifiers.email() for _ in range(2)]
    refused = [identifiers.email() for _ in range(2)]
    events = [f.event(f.subject(e), PURPOSE) for e in given]
    events += [f.event(f.subject(e), PURPOSE, "withdrawn") for e in withdrawn]
    events += [f.event(f.subject(e), PURPOSE, "refused") for e in refused]
    f.record(*events)
    strangers = [identifiers.email() for _ in range(2)]
    return {"given": given, "withdrawn": withdrawn, "refused": refused, "strangers": strangers}


def rows_of(people) -> list[str | None]:
    """A column with repeats, the caller's own spelling, a missing value and a non-address."""
    everyone = people["given"] + people["withdrawn"] + people["refused"] + people["strangers"]
    column = [everyone[(i * 7) % len(everyone)] for i in range(300)]
    column[5] = column[5].upper()
    column[17] = None
    column[40] = "not-an-address"
    return column


def allowed(people, value) -> bool:
    return value is not None and value.lower() in {e.lower() for e in people["given"]}


def no_identifier_in(text: str, people) -> None:
    for group in people.values():
        for email in group:
            assert email.lower() not in text.lower()


def test_a_parquet_file_keeps_exactly_the_consented_rows_in_order_with_schema_and_metadata(
    people, run, tmp_path
):
    emails = rows_of(people)
    schema = pa.schema(
        [
            pa.field("id", pa.int64(), metadata={b"doc": b"row number"}),
            pa.field("email", pa.string()),
            pa.field("text", pa.large_string()),
        ],
        metadata={b"origin": b"khmer-chat-export", b"license": b"proprietary"},
    )
    table = pa.table(
        {"id": list(range(300)), "email": emails, "text": [f"turn {i}" for i in range(300)]},
        schema=schema,
    )
    source, target = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(table, source, row_group_size=100)

    done = run(
        "consent", "filter", "--purpose", PURPOSE, "--id-type", "email", "--column", "email",
        "--batch", "64", str(source), str(target),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr.decode()
    kept = pq.read_table(target)
    expected = [i for i, e in enumerate(emails) if allowed(people, e)]
    assert kept.column("id").to_pylist() == expected
    assert kept.to_pylist() == [table.slice(i, 1).to_pylist()[0] for i in expected]
    assert kept.schema.equals(schema, check_metadata=True)
    assert pq.read_schema(target).metadata[b"origin"] == b"khmer-chat-export"
    summary = done.stderr.decode()
    dropped = 300 - len(expected)
    assert f"300 rows: kept {len(expected)}, dropped {dropped}" in summary
    for reason in ("withdrawn", "refused", "no_consent", "missing_identifier", "invalid_email"):
        assert reason in summary
    assert done.stdout == b""
    no_identifier_in(summary, people)


def test_csv_and_jsonl_through_standard_input_and_output_are_kept_byte_for_byte(people, run):
    emails = rows_of(people)[:60]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "note"])
    for i, e in enumerate(emails):
        writer.writerow([e or "", f'line {i}, "quoted"\nacross lines'])
    body = out.getvalue().encode()

    done = run(
        "consent", "filter", "--purpose", PURPOSE, "--column", "email", "--format", "csv",
        "--json", "-", "-", stdin=body,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr.decode()
    records = list(csv.reader(io.StringIO(done.stdout.decode())))
    assert records[0] == ["email", "note"]
    assert [r[0] for r in records[1:]] == [e for e in emails if allowed(people, e)]
    assert all(r[1].endswith("across lines") for r in records[1:])
    summary = json.loads(done.stderr.decode())
    assert summary["kept"] == len(records) - 1
    assert summary["rows"] == 60
    assert sum(summary["reasons"].values()) == summary["dropped"]

    lines = [json.dumps({"user": {"email": e}, "i": i}) + "\n" for i, e in enumerate(emails)]
    done = run(
        "consent", "filter", "--purpose", PURPOSE, "--column", "user.email", "--format", "jsonl",
        "-", "-", stdin="".join(lines).encode(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == "".join(
        line for line, e in zip(lines, emails, strict=True) if allowed(people, e)
    )
    no_identifier_in(done.stderr.decode(), people)


def test_the_client_filters_an_arrow_table_and_counts_the_reasons(people, lup):
    emails = rows_of(people)
    table = pa.table({"email": emails, "n": list(range(len(emails)))})

    kept, why = lup.consent_filter_table(table, column="email", purpose=PURPOSE)

    assert kept.column("n").to_pylist() == [i for i, e in enumerate(emails) if allowed(people, e)]
    assert why["missing_identifier"] == 1
    assert why["invalid_email"] == 1
    assert sum(why.values()) == len(emails) - kept.num_rows
    # The batched decisions the Hugging Face helper hands to Dataset.filter(batched=True).
    mask, _ = lup.consent_mask(emails[:10], purpose=PURPOSE, id_type="email")
    assert mask == [allowed(people, e) for e in emails[:10]]


def test_an_unknown_purpose_is_refused_with_its_code_and_nothing_is_written(people, run, tmp_path):
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps({"email": people["given"][0]}) + "\n")

    done = run(
        "consent", "filter", "--purpose", "no.such.purpose", "--column", "email",
        str(source), str(target),
    )  # fmt: skip

    assert done.returncode == 1
    assert b"unknown_purpose" in done.stderr or b"purpose" in done.stderr
    assert target.read_bytes() == b""
    no_identifier_in(done.stderr.decode() + done.stdout.decode(), people)


def test_the_client_filters_a_pandas_frame(people, lup):
    pd = pytest.importorskip("pandas")
    emails = rows_of(people)
    frame = pd.DataFrame({"email": emails, "n": range(len(emails))})

    kept, why = lup.consent_filter_dataframe(frame, column="email", purpose=PURPOSE)

    assert kept["n"].tolist() == [i for i, e in enumerate(emails) if allowed(people, e)]
    assert sum(why.values()) == len(emails) - len(kept)


def test_the_client_filters_a_hugging_face_dataset_in_batches(people, lup):
    datasets = pytest.importorskip("datasets")
    emails = rows_of(people)
    dataset = datasets.Dataset.from_dict({"email": emails, "n": list(range(len(emails)))})

    kept = lup.consent_filter_dataset(dataset, column="email", purpose=PURPOSE, batch_size=64)

    assert kept["n"] == [i for i, e in enumerate(emails) if allowed(people, e)]
