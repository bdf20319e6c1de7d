"""`manual`: a system Lup cannot reach, erased by a person who then attests what they did.

Config:

    {"instructions": "In the support tool, search the ticket archive for the e-mail and delete
                      every ticket and attachment.", "id_types": ["email"]}

The task waits in the admin (manual erasure tasks) with the instructions and the subject's
identifiers; the person enters how many items they erased and how many a second search still
finds; the receipt names the method `manual-attestation`. Nothing here can check their word:
the receipt attests what the named person attested, no more.
"""

from typing import Any

from . import config as checks
from . import schema
from .base import (
    Awaiting,
    Capability,
    Connector,
    Handover,
    Identifiers,
)

METHOD = "manual-attestation"


class Manual(Connector):
    kind = "manual"
    config_schema = schema.config(
        description="A system Lup cannot reach: a person erases by hand and attests in the "
        "admin what they erased and what a second search still finds.",
        properties={
            "instructions": {
                "type": "string",
                "minLength": 1,
                "description": "What the person does, shown with the subject's identifiers.",
            },
            "id_types": schema.id_types("The identifier types the person needs."),
        },
        required=["instructions", "id_types"],
        example={
            "instructions": "In the support tool, search the ticket archive for the e-mail and "
            "delete every ticket and attachment.",
            "id_types": ["email"],
        },
    )
    capabilities = frozenset({Capability.DELETE})
    hands_over = True
    erase_method = METHOD
    verify_method = METHOD

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.instructions = checks.text(
            self.config, "instructions", message="instructions tell the person what to do."
        ).strip()
        needed = "id_types lists the identifier types the person needs."
        self.id_types = frozenset(checks.names(self.config, "id_types", message=needed))

    def start(self, identifiers: Identifiers, *, handover: Handover) -> Awaiting:
        """A person does this one: the run waits in the admin until they attest."""
        self.usable(identifiers)
        return Awaiting.PERSON
