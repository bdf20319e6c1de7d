import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from core.progress import (
    CountingReader,
    add_progress_argument,
    command_progress,
    open_input,
)
from lineage.membership import KEY, MembershipRejected, membership_upload
from lineage.models import DatasetVersion

CONTENT_TYPES = {"text": "text/plain", "csv": "text/csv", "jsonl": "application/x-ndjson"}


def _format_of(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix, "text")


class Command(BaseCommand):
    help = (
        "Record the subjects a dataset version holds, one identifier or subject key a line "
        "(`-` reads standard input), streamed and all or nothing, as POST "
        "/api/v1/lineage/versions/{id}/members does. Progress (lines, bytes, rate) goes to "
        "stderr; a rejected upload names lines and codes, never values."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", type=uuid.UUID, help="the dataset version's id")
        parser.add_argument("path", help="the file of subjects, or - for standard input")
        parser.add_argument(
            "--id-type",
            default=KEY,
            help="`key` (lines are subject keys, the default) or an identifier type such as "
            "email or phone (hashed on arrival, never stored)",
        )
        parser.add_argument(
            "--format",
            dest="fmt",
            choices=sorted(CONTENT_TYPES),
            help="text, csv or jsonl (default: from the file's extension, text otherwise)",
        )
        add_progress_argument(parser)

    def handle(
        self, *args, version: uuid.UUID, path: str, id_type: str, fmt: str | None = None, **options
    ):
        target = DatasetVersion.objects.filter(pk=version).select_related("dataset").first()
        if target is None:
            raise CommandError(f"No dataset version {version}.")
        progress = command_progress(self, options, label="lineage_membership_upload")
        with open_input(path) as stream:
            reader = CountingReader(
                stream,
                progress,
                at_end=lambda: progress.note("every line read; merging into the index"),
            )
            try:
                members = membership_upload(
                    version=target,
                    stream=reader,
                    content_type=CONTENT_TYPES[fmt or _format_of(path)],
                    id_type=id_type,
                )
            except MembershipRejected as exc:
                lines = [f"{path}: {exc.detail}"]
                lines += [f"  line {e['line']}: {e['code']}" for e in exc.fields["lines"]]
                raise CommandError("\n".join(lines)) from None
            except ApplicationError as exc:
                raise CommandError(
                    f"{path}: nothing was recorded. {exc.code}: {exc.detail}"
                ) from None
        progress.finish()
        self.stdout.write(f"{target}: {members} subjects in the membership index.")
