from django.core.management.base import BaseCommand, CommandError

from core.progress import add_progress_argument, command_progress
from ledger.selectors import log_size
from ledger.services import log_audit_run


class Command(BaseCommand):
    help = (
        "Recompute the transparency log from its stored leaves; check every checkpoint (root, "
        "signature, consistency with the latest) and every receipt (signature, leaf). Records "
        "the outcome for the admin dashboard. Exits non-zero on any mismatch, naming the index. "
        "Progress (leaves checked, rate) goes to stderr."
    )

    def add_arguments(self, parser):
        add_progress_argument(parser)

    def handle(self, *args, **options):
        progress = command_progress(
            self, options, label="ledger_audit", unit="leaves", total=log_size()
        )
        report, _ = log_audit_run(progress=progress.update)
        progress.finish()
        self.stdout.write(
            f"Audited {report.size} leaves, {report.checkpoints} checkpoints, "
            f"{report.receipts} receipts."
        )
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(f"MISMATCH {problem}")
            raise CommandError(f"{len(report.problems)} mismatch(es) found")
        self.stdout.write("Every leaf, checkpoint and receipt matches the recomputed log.")
