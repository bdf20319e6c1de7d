from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from consent.demo import demo_email, load_demo
from core.embedded import generated_secret
from lineage.demo import load_demo_lineage
from targets.demo import load_demo_erasure

DEMO_ADMIN = "admin"


class Command(BaseCommand):
    help = "Load demo data (idempotent) and, in embedded mode, a demo admin login."

    def handle(self, *args, **options):
        added = load_demo()
        self.stdout.write(f"Demo consent events added: {added}.")
        lineage = load_demo_lineage(member_emails=[demo_email(n) for n in range(0, 300, 2)])
        self.stdout.write(
            "Demo lineage added: "
            + (", ".join(f"{count} {kind}" for kind, count in lineage.items()) or "nothing")
            + "."
        )
        emails = [demo_email(n) for n in range(0, 300, 2)]
        targets = load_demo_erasure(emails=emails)
        self.stdout.write(f"Demo erasure targets added: {targets}.")
        if not settings.EMBEDDED:
            return
        # The demo password is random per data folder and kept there, never in the repository.
        password = generated_secret(settings.DATA_DIR / "demo_admin_password", nbytes=8)
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEMO_ADMIN, defaults={"is_staff": True, "is_superuser": True}
        )
        if created or not user.check_password(password):
            user.set_password(password)
            user.save()
        self.stdout.write(f"Demo admin login: {DEMO_ADMIN} / {password}")
