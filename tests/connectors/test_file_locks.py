"""A file rewrite locks the file, not its directory: another rewrite of the same file waits
(and times out), the other files of the directory are erased meanwhile, and a lock waited for
on a file that was replaced in the meantime is taken again on its replacement. No database."""

import fcntl
import json
import os
import threading
import time

import pytest

from connectors import connector_for
from connectors.errors import ConnectorTimeout
from tests import identifiers


@pytest.fixture
def roots(tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return tmp_path


def write(path, emails):
    path.write_text("".join(json.dumps({"email": e}) + "\n" for e in emails))


def target(path, timeout=5):
    config = {"path": str(path), "match": {"email": "email"}, "timeout_seconds": timeout}
    return connector_for("jsonl_file", config)


def held(path) -> int:
    """Another process's rewrite of `path` in progress: its lock, taken."""
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_rewrite_of_the_same_file_waits_while_the_others_go_on(roots):
    subject = identifiers.email().lower()
    busy, free = roots / "part-0.jsonl", roots / "part-1.jsonl"
    write(busy, [subject, "keep@example.org"])
    write(free, [subject, "keep@example.org"])
    fd = held(busy)
    try:
        with pytest.raises(ConnectorTimeout):
            target(busy, timeout=0.3).erase({"email": [subject]})
        assert subject in busy.read_text()
        started = time.monotonic()
        assert target(free).erase({"email": [subject]}).count == 1  # its neighbour: at once
        assert time.monotonic() - started < 2
    finally:
        os.close(fd)
    assert target(busy).erase({"email": [subject]}).count == 1


def test_a_lock_waited_for_on_a_replaced_file_is_taken_on_its_replacement(roots):
    subject = identifiers.email().lower()
    path = roots / "chats.jsonl"
    write(path, ["old@example.org"])
    first = held(path)
    done: list = []
    erasing = threading.Thread(target=lambda: done.append(target(path).erase({"email": [subject]})))
    erasing.start()
    time.sleep(0.3)
    # The other rewrite publishes its file and, holding the new file's lock, lets go of the old.
    temp = roots / ".chats.jsonl.new"
    write(temp, [subject, "new@example.org"])
    os.rename(temp, path)
    second = held(path)
    os.close(first)
    time.sleep(0.5)
    assert erasing.is_alive() and not done  # waiting on the file now in place
    os.close(second)
    erasing.join(timeout=10)
    assert done and done[0].count == 1
    assert path.read_text() == json.dumps({"email": "new@example.org"}) + "\n"
