from django.core.management.base import BaseCommand

from consent.services import purposes_sync_taxonomy


class Command(BaseCommand):
    help = "Add fideslang data uses missing from the purpose tree (after a fideslang upgrade)."

    def handle(self, *args, **options):
        added = purposes_sync_taxonomy()
        self.stdout.write(f"Added {added} purposes from the fideslang taxonomy.")
