"""The readiness report in the frameworks clients ask for: AI Verify's process checklist, the
ASEAN Guide on AI Governance and Ethics, and Singapore's Model AI Governance Frameworks
(traditional and generative AI).

The mapping is data (`data/*.yaml`, schema in data/README.md): conditions Lup decides from a
readiness section, and for each framework its items, each resting on conditions or left to the
operator. `answers.py` decides items on a report; nothing here reads the database itself.
"""

from typing import Any

from ledger.services import document_sign
from reports.frameworks.answers import (
    aiverify_document,
    aiverify_import,
    framework_answers,
    framework_get,
)


def aiverify_signed(*, report: dict[str, Any]) -> dict[str, str]:
    """The AI Verify answers as a signed document (RECEIPTS.md envelope, `type: "report"`),
    which `python -m ledger.verify report FILE --key KEY` checks; the payload's `report` is
    itself a file the plugin imports."""
    return document_sign(type="report", body={"report": aiverify_document(report=report)})


__all__ = [
    "aiverify_document",
    "aiverify_import",
    "aiverify_signed",
    "framework_answers",
    "framework_get",
]
