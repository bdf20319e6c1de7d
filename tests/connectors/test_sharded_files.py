"""Sharded file targets (`dir` + `glob`): the listing stays inside the directory, the config is
one place or many, never both, and each shard's connector erases its one file like a target of
one file. No database."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import connector_for
from connectors.errors import ConnectorConfigError, PathOutsideRoots, TargetUnreachable
from connectors.shards import Shard
from tests import identifiers


@pytest.fixture
def roots(tmp_path, settings):
    root = tmp_path / "data"
    root.mkdir()
    settings.LUP_FILE_ROOTS = [str(root)]
    return root


def jsonl(path, emails):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps({"email": e, "n": n}) + "\n" for n, e in enumerate(emails))
    path.write_bytes(gzip.compress(text.encode()) if path.name.endswith(".gz") else text.encode())


def test_the_listing_is_sorted_and_keeps_to_regular_visible_files_under_the_directory(
    roots, tmp_path
):
    shards = roots / "chats"
    for name in ("b.jsonl.gz", "a.jsonl.gz", "2026/c.jsonl.gz", ".a.jsonl.gz.x1.tmp"):
        jsonl(shards / name, ["x@example.org"])
    (shards / "notes.txt").write_text("not a shard\n")
    (shards / "dir.jsonl.gz").mkdir()
    outside = tmp_path / "secret.jsonl.gz"
    jsonl(outside, ["x@example.org"])
    (shards / "link.jsonl.gz").symlink_to(outside)  # resolves outside: never a shard

    connector = connector_for(
        "jsonl_file", {"dir": "chats", "glob": "**/*.jsonl.gz", "match": {"email": "email"}}
    )
    assert connector.sharded
    listed = connector.shards()
    assert [s.key for s in listed] == ["2026/c.jsonl.gz", "a.jsonl.gz", "b.jsonl.gz"]
    assert all(isinstance(s, Shard) and s.size > 0 for s in listed)
    one = connector_for("jsonl_file", {"path": "x.jsonl", "match": {"email": "e"}})
    assert one.sharded is False


@pytest.mark.parametrize("glob", ["../*.jsonl", "/etc/*", "a/../../*", "./*", "a\\..\\b"])
def test_a_glob_that_could_leave_the_directory_is_refused(roots, glob):
    (roots / "chats").mkdir()
    with pytest.raises(PathOutsideRoots) as excinfo:
        connector_for("jsonl_file", {"dir": "chats", "glob": glob, "match": {"email": "email"}})
    assert excinfo.value.fields == {"glob": "outside dir"}


def test_a_directory_outside_the_roots_is_refused(roots, tmp_path):
    with pytest.raises(PathOutsideRoots) as excinfo:
        connector_for(
            "csv_file", {"dir": str(tmp_path), "glob": "*.csv", "match": {"email": "email"}}
        )
    assert excinfo.value.fields == {"dir": "outside roots"}


@pytest.mark.parametrize(
    ("config", "fields"),
    [
        ({"path": "a.jsonl", "dir": "chats", "glob": "*"}, {"path": "only one of path and dir"}),
        ({"dir": "chats"}, {"glob": "required"}),
        ({"glob": "*.jsonl"}, {"dir": "required"}),
        ({"path": "a.jsonl", "glob": "*.jsonl"}, {"dir": "required"}),
        ({}, {"path": "required"}),
    ],
)
def test_one_place_or_many_never_both_and_never_half(roots, config, fields):
    with pytest.raises(ConnectorConfigError) as excinfo:
        connector_for("jsonl_file", {**config, "match": {"email": "email"}})
    assert excinfo.value.fields == fields


def test_a_missing_directory_is_unreachable_and_rotations_are_for_one_log(roots):
    connector = connector_for("text_log", {"dir": "logs", "glob": "*.log", "id_types": ["email"]})
    with pytest.raises(TargetUnreachable) as excinfo:
        connector.check()
    assert excinfo.value.fields == {"dir": "directory not found"}
    with pytest.raises(ConnectorConfigError) as refused:
        connector_for(
            "text_log", {"dir": "logs", "glob": "*.log", "id_types": ["email"], "rotated": True}
        )
    assert refused.value.fields == {"rotated": "not with dir"}


def test_the_parent_erases_only_through_its_shards(roots):
    email = identifiers.email().lower()
    jsonl(roots / "chats" / "a.jsonl", [email, "keep@example.org"])
    jsonl(roots / "chats" / "b.jsonl", [email])
    connector = connector_for(
        "jsonl_file", {"dir": "chats", "glob": "*.jsonl", "match": {"email": "email"}}
    )
    assert connector.locate({"email": [email]}).count == 2  # a held request's look
    with pytest.raises(ConnectorConfigError):
        connector.erase({"email": [email]})
    with pytest.raises(PathOutsideRoots):
        connector.shard("../x.jsonl")


def write_csv(path, emails):
    path.write_text("email,n\n" + "".join(f"{e},{n}\n" for n, e in enumerate(emails)))


def write_parquet(path, emails):
    pq.write_table(pa.table({"email": emails, "n": list(range(len(emails)))}), path)


def write_log(path, emails):
    path.write_text("".join(f"login ok for {e}\n" for e in emails))


@pytest.mark.parametrize(
    ("kind", "glob", "write", "extra"),
    [
        ("jsonl_file", "*.jsonl.gz", jsonl, {"match": {"email": "email"}}),
        ("csv_file", "*.csv", write_csv, {"match": {"email": "email"}}),
        ("parquet_file", "*.parquet", write_parquet, {"match": {"email": "email"}}),
        ("text_log", "*.log", write_log, {"id_types": ["email"], "mode": "drop_line"}),
    ],
)
def test_each_file_kind_erases_shard_by_shard(roots, kind, glob, write, extra):
    """Batched groups on one shard: each group's own count, the file's digests, and a shard
    without a match read but left as it was."""
    first, second = identifiers.email().lower(), identifiers.email().lower()
    (roots / "set").mkdir()
    suffix = glob.removeprefix("*")
    write(roots / "set" / f"p0{suffix}", [first, "keep@example.org", second, first])
    write(roots / "set" / f"p1{suffix}", ["keep@example.org"])
    untouched = (roots / "set" / f"p1{suffix}").read_bytes()
    connector = connector_for(kind, {"dir": "set", "glob": glob, **extra})
    assert [s.key for s in connector.shards()] == [f"p0{suffix}", f"p1{suffix}"]
    groups = {1: {"email": [first]}, 2: {"email": [second]}}

    done = connector.shard(f"p0{suffix}").erase_groups(groups)
    assert (done[1].count, done[2].count) == (2, 1)
    assert done[1].before != done[1].after == done[2].after
    checked = connector.shard(f"p0{suffix}").verify_groups(groups)
    assert {key: check.remaining for key, check in checked.items()} == {1: 0, 2: 0}

    kept = connector.shard(f"p1{suffix}").erase_groups(groups)
    assert kept[1].count == 0 and kept[1].before == kept[1].after
    assert (roots / "set" / f"p1{suffix}").read_bytes() == untouched


@pytest.mark.parametrize(("written", "rewritten"), [(1, 4), (6, 0), (9, 0)])
def test_a_gzip_shard_is_rewritten_at_its_writers_fast_level_or_the_default(
    roots, written, rewritten
):
    """XFL, the header byte zlib sets from the level: 4 for the fastest, 2 for the best (9),
    0 between. A shard written fast stays fast to rewrite; none is recompressed at level 9,
    which takes about twice level 6's time for a file a few percent smaller."""
    shard = roots / "chats" / "part-0.jsonl.gz"
    shard.parent.mkdir()
    text = "".join(json.dumps({"email": f"keep-{n}@example.org"}) + "\n" for n in range(500))
    gone = identifiers.email().lower()
    text += json.dumps({"email": gone}) + "\n"
    shard.write_bytes(gzip.compress(text.encode(), compresslevel=written))
    connector = connector_for(
        "jsonl_file", {"dir": "chats", "glob": "*.jsonl.gz", "match": {"email": "email"}}
    ).shard("part-0.jsonl.gz")

    assert connector.erase({"email": [gone]}).count == 1
    data = shard.read_bytes()
    assert data[8] == rewritten
    assert gone not in gzip.decompress(data).decode()
    assert gzip.decompress(data).decode().count("keep-") == 500


def _written(kind: str, path, emails) -> None:
    if kind == "jsonl_file":
        jsonl(path, emails)
    elif kind == "csv_file":
        path.write_text("email,n\n" + "".join(f"{e},{n}\n" for n, e in enumerate(emails)))
    elif kind == "text_log":
        path.write_text("".join(f"2026-12-06 login by {e} ok\n" for e in emails))
    else:
        pq.write_table(pa.table({"email": emails, "n": list(range(len(emails)))}), path)


@pytest.mark.parametrize(
    ("kind", "name", "config"),
    [
        ("jsonl_file", "s.jsonl.gz", {"match": {"email": "email"}}),
        ("csv_file", "s.csv", {"match": {"email": "email"}}),
        ("text_log", "s.log", {"id_types": ["email"]}),
        ("parquet_file", "s.parquet", {"match": {"email": "email"}}),
    ],
)
def test_a_rewrite_is_announced_before_it_is_published_with_the_digests_it_reports(
    roots, kind, name, config
):
    """What a shard's task keeps before a rewrite replaces the shard (each group's count, the
    digests before and after) is what the erase then reports, and `content_digest` reads the
    file's as the erase does: before it, `before`; after it, `after`."""
    subject, other = identifiers.email().lower(), identifiers.email().lower()
    _written(kind, roots / name, [subject, other, subject])
    connector = connector_for(kind, {"path": name, **config})
    original = connector.content_digest()
    announced = []

    def publishing(counts, before, after):
        assert connector.content_digest() == original  # not published yet
        announced.append((counts, before, after))

    connector.publishing = publishing
    erased = connector.erase_groups({7: {"email": [subject]}, 8: {"email": [other]}})
    assert announced == [({7: 2, 8: 1}, erased[7].before, erased[7].after)]
    assert erased[7].before == original != erased[7].after
    assert connector.content_digest() == erased[7].after
    announced.clear()
    assert connector.erase_groups({7: {"email": [subject]}})[7].count == 0
    assert announced == []  # nothing rewritten, nothing announced
