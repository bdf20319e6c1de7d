"""A file rewrite holds its records in memory until the first one it changes: a file with
nothing to erase is read once and nothing is written, not even a temporary file; past the
memory bound, or once a record changes, everything held is written first, in order. No
database."""

import gzip
import hashlib
import json

import pytest

from connectors import connector_for, rewrite
from connectors.jsonl_file import JsonlFile
from tests import identifiers


@pytest.fixture
def roots(tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return tmp_path


@pytest.fixture
def spooled(monkeypatch):
    """The temporary files rewrites opened (the real ones, counted)."""
    opened: list[str] = []
    real = JsonlFile.spool

    def counting(self, path, st):
        temp = real(self, path, st)
        opened.append(temp.name)
        return temp

    monkeypatch.setattr(JsonlFile, "spool", counting)
    return opened


def write(path, emails):
    text = "".join(json.dumps({"email": e, "n": n}) + "\n" for n, e in enumerate(emails))
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return data


def target(path):
    return connector_for("jsonl_file", {"path": str(path), "match": {"email": "email"}})


@pytest.mark.parametrize("name", ["chats.jsonl", "chats.jsonl.gz"])
def test_a_file_with_nothing_to_erase_is_read_and_never_written(roots, spooled, name):
    path = roots / name
    write(path, [f"keep{n}@example.org" for n in range(50)])
    before = path.stat()
    done = target(path).erase({"email": [identifiers.email()]})
    assert (done.op, done.count, done.before == done.after) == ("none", 0, True)
    assert spooled == []  # no temporary file, not even one removed afterwards
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize("bound", [1, 200, 10**9])
@pytest.mark.parametrize("name", ["chats.jsonl", "chats.jsonl.gz"])
def test_what_was_held_is_written_first_wherever_the_first_match_lies(
    roots, spooled, monkeypatch, bound, name
):
    """The first match after many kept lines, and again near the end: with a bound smaller
    than those lines (writing starts before any match) or larger (it starts at the match),
    the file is the same, and so are the digests."""
    monkeypatch.setattr(rewrite, "HELD_BYTES", bound)
    subject = identifiers.email().lower()
    emails = [f"keep{n}@example.org" for n in range(300)]
    emails[120] = emails[290] = subject
    path = roots / name
    original = write(path, emails)
    done = target(path).erase({"email": [subject]})
    kept = b"".join(line for line in original.splitlines(True) if subject.encode() not in line)
    text = path.read_bytes()
    assert (gzip.decompress(text) if name.endswith(".gz") else text) == kept
    assert done.count == 2 and len(spooled) == 1
    assert done.before == "sha256:" + hashlib.sha256(original).hexdigest()
    assert done.after == "sha256:" + hashlib.sha256(kept).hexdigest()
    assert sorted(p.name for p in roots.iterdir()) == [name]


def test_a_large_file_without_a_match_is_written_past_the_bound_then_dropped(
    roots, spooled, monkeypatch
):
    monkeypatch.setattr(rewrite, "HELD_BYTES", 100)
    path = roots / "chats.jsonl.gz"
    original = path.read_bytes() if write(path, [f"k{n}@example.org" for n in range(50)]) else b""
    done = target(path).erase({"email": [identifiers.email()]})
    assert (done.op, done.count) == ("none", 0)
    assert len(spooled) == 1  # memory stays bounded: the rewrite went to a temporary file
    assert path.read_bytes() == original
    assert sorted(p.name for p in roots.iterdir()) == ["chats.jsonl.gz"]  # and it is gone
