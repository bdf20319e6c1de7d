"""What a serving process does as it starts: say which mode it runs in, and, when tasks run
in-process (no broker), run Celery beat's schedule in-process too."""

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from django.conf import settings
from django.db import connections

log = structlog.get_logger(__name__)


def announce_mode() -> None:
    """One clear line on which mode this process runs in."""
    if settings.EMBEDDED:
        log.warning(
            "lup.embedded_mode",
            detail="Embedded mode: SQLite and generated secrets in the data folder, tasks run "
            "in-process. Not for production; set DATABASE_URL and REDIS_URL for that.",
            data_dir=str(settings.DATA_DIR),
        )
    else:
        log.info("lup.service_mode", database=settings.DATABASES["default"]["ENGINE"])


def run_task(name: str) -> None:
    """Run a task by name in this thread (tasks are named, not imported: core knows no app)."""
    from celery import current_app

    current_app.signature(name).apply()


class InProcessBeat(threading.Thread):
    """Celery beat's schedule (`CELERY_BEAT_SCHEDULE`) run by a thread of this process.

    Without a broker there is no beat either, and the sweeper, the checkpoints and the
    shredding would wait for one forever. Every entry runs once at start, then on its own
    interval; a task that fails is logged by its exception's class (its message may hold
    personal data) and runs again at its next turn. `clock` and `run` are attributes that
    tests may swap."""

    clock = staticmethod(time.monotonic)

    def __init__(
        self, schedule: Mapping[str, Mapping[str, Any]], run: Callable[[str], None] = run_task
    ):
        super().__init__(name="lup-in-process-beat", daemon=True)
        self.entries = {name: (e["task"], float(e["schedule"])) for name, e in schedule.items()}
        self.run_one = run
        self.stopped = threading.Event()

    def run(self) -> None:
        due = dict.fromkeys(self.entries, self.clock())
        while not self.stopped.is_set():
            for name, (task, every) in self.entries.items():
                if due[name] <= self.clock():
                    self.tick(task)
                    due[name] = self.clock() + every
            self.stopped.wait(max(0.05, min(due.values(), default=60.0) - self.clock()))

    def tick(self, task: str) -> None:
        try:
            self.run_one(task)
        except Exception as exc:  # the next turn tries again
            log.warning("lup.in_process_task_failed", task=task, error=type(exc).__name__)
        finally:
            # This thread's connections only: a later tick opens a fresh one.
            connections.close_all()

    def stop(self) -> None:
        self.stopped.set()


_beat: InProcessBeat | None = None
_lock = threading.Lock()


def start_in_process_beat() -> InProcessBeat | None:
    """Start the in-process beat once per process, when tasks run in-process."""
    global _beat
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    with _lock:
        if _beat is None:
            _beat = InProcessBeat(settings.CELERY_BEAT_SCHEDULE)
            _beat.start()
            log.info("lup.in_process_beat", tasks=sorted(_beat.entries))
    return _beat
