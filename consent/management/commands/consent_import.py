from django.core.management.base import BaseCommand, CommandError

from consent.imports import consent_import
from consent.services import EventsRejected
from core.errors import ApplicationError
from core.progress import (
    CountingReader,
    add_progress_argument,
    command_progress,
    open_input,
)

CONTENT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


class Command(BaseCommand):
    help = (
        "Import consent events from a JSON lines or CSV file (`-` reads standard input), all or "
        "nothing, as POST /api/v1/consent/events/import does. Progress (lines, bytes, rate) "
        "goes to stderr; a rejected import names lines, fields and codes, never values."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the file of events, or - for standard input")
        parser.add_argument(
            "--format",
            dest="fmt",
            choices=sorted(CONTENT_TYPES),
            help="jsonl or csv (default: csv for a .csv file, jsonl otherwise)",
        )
        add_progress_argument(parser)

    def handle(self, *args, path: str, fmt: str | None = None, **options):
        fmt = fmt or ("csv" if path.lower().endswith(".csv") else "jsonl")
        progress = command_progress(self, options, label="consent_import")
        with open_input(path) as stream:
            reader = CountingReader(
                stream,
                progress,
                # Every line is checked before anything is written, so the end of the input is
                # where the second, silent phase starts: say so rather than go quiet.
                at_end=lambda: progress.note("every line read; checking and recording them"),
            )
            try:
                result = consent_import(stream=reader, content_type=CONTENT_TYPES[fmt])
            except EventsRejected as exc:
                lines = [f"{path}: {exc.detail}"]
                lines += [
                    f"  line {e['line']}: {e['field']}: {e['code']}" for e in exc.fields["lines"]
                ]
                raise CommandError("\n".join(lines)) from None
            except ApplicationError as exc:
                raise CommandError(
                    f"{path}: nothing was imported. {exc.code}: {exc.detail}"
                ) from None
        progress.finish()
        self.stdout.write(
            f"Imported {len(result.events)} events; {result.subjects_created} new subjects."
        )
