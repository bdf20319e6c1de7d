from django.core.management.base import BaseCommand, CommandError

from access.scopes import ALL_SCOPES
from access.services import api_token_create
from core.errors import ApplicationError


class Command(BaseCommand):
    help = "Create an API token for a service account and print it once. Scopes: " + ", ".join(
        sorted(ALL_SCOPES)
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", required=True, help="comma-separated, e.g. consent:read")

    def handle(self, *args, name: str, scopes: str, **options):
        try:
            token, text = api_token_create(
                name=name, scopes=[s.strip() for s in scopes.split(",") if s.strip()]
            )
        except ApplicationError as exc:
            raise CommandError(exc.detail) from exc
        self.stderr.write(f"Token {token.name!r} with scopes {', '.join(token.scopes)}.")
        self.stderr.write("Store it now; it is not shown again.")
        self.stdout.write(text)
