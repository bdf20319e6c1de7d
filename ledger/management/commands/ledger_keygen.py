from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ledger import keys


class Command(BaseCommand):
    help = (
        "Write a new Ed25519 signing key (PKCS#8 PEM, mode 0600) and print its verifier key. "
        "To rotate, write a new file, point LUP_SIGNING_KEY_FILE at it and restart: the new "
        "key signs from the next index and the old one stays published with its range."
    )

    # The checks would refuse to run without a key file, which is what this command makes.
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--out",
            default=settings.LUP_SIGNING_KEY_FILE,
            help="key file to create (default: LUP_SIGNING_KEY_FILE)",
        )

    def handle(self, *args, out: str, **options):
        path = Path(out)
        try:
            private_key = keys.write_key_file(path)
        except FileExistsError:
            raise CommandError(f"{path} exists; keys are never overwritten.") from None
        signer = keys.Signer(
            name=settings.LUP_LOG_ORIGIN,
            private_key=private_key,
            public_key=private_key.public_key().public_bytes_raw(),
        )
        self.stderr.write(f"Wrote {path} (mode 0600). Publish this verifier key:")
        self.stdout.write(signer.verifier_key)
