from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from lineage.manifest import ManifestError, manifest_load, manifest_register


class Command(BaseCommand):
    help = (
        "Register the datasets, runs and models of a lineage manifest (YAML) in one "
        "transaction: all of it or, on any bad entry, none of it. Running it again is a no-op."
    )

    def add_arguments(self, parser):
        parser.add_argument("manifest", type=Path, help="path of the manifest, e.g. lineage.yaml")

    def handle(self, *args, manifest: Path, **options):
        try:
            text = manifest.read_bytes()
        except OSError as exc:
            raise CommandError(f"{manifest}: {exc.strerror}") from None
        try:
            added = manifest_register(document=manifest_load(text=text))
        except ManifestError as exc:
            lines = [f"{manifest}: nothing was registered."]
            lines += [f"  {problem}" for problem in exc.problems]
            raise CommandError("\n".join(lines)) from None
        except ApplicationError as exc:
            raise CommandError(
                f"{manifest}: nothing was registered. {exc.code}: {exc.detail}"
            ) from None
        summary = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in added.items())
        self.stdout.write(f"{manifest}: registered; added {summary}.")
