from django.core.management.base import BaseCommand, CommandError

from ledger.services import log_audit_run


class Command(BaseCommand):
    help = (
        "Recompute the transparency log from its stored leaves; check every checkpoint (root, "
        "signature, consistency with the latest) and every receipt (signature, leaf). Records "
        "the outcome for the admin dashboard. Exits non-zero on any mismatch, naming the index."
    )

    def handle(self, *args, **options):
        report, _ = log_audit_run()
        self.stdout.write(
            f"Audited {report.size} leaves, {report.checkpoints} checkpoints, "
            f"{report.receipts} receipts."
        )
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(f"MISMATCH {problem}")
            raise CommandError(f"{len(report.problems)} mismatch(es) found")
        self.stdout.write("Every leaf, checkpoint and receipt matches the recomputed log.")
