from django.core.management.base import BaseCommand

from consent.services import consent_state_rebuild
from consent.tasks import consent_rebuild_state


class Command(BaseCommand):
    help = "Recompute every subject's current consent state from the append-only events."

    def add_arguments(self, parser):
        parser.add_argument(
            "--background", action="store_true", help="queue it for a worker and return"
        )

    def handle(self, *args, background: bool = False, **options):
        if background:
            result = consent_rebuild_state.delay()
            self.stdout.write(f"Queued the rebuild as task {result.id}.")
            return
        count = consent_state_rebuild()
        self.stdout.write(f"Rebuilt {count} consent state rows from the events.")
