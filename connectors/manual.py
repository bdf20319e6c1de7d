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

from .base import (
    ID_TYPE,
    Awaiting,
    Capability,
    Connector,
    ConnectorConfigError,
    Handover,
    Identifiers,
)

METHOD = "manual-attestation"


class Manual(Connector):
    kind = "manual"
    config_keys = frozenset({"instructions", "id_types"})
    capabilities = frozenset({Capability.DELETE})
    hands_over = True
    erase_method = METHOD
    verify_method = METHOD

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        instructions = self.config.get("instructions")
        if not isinstance(instructions, str) or not instructions.strip():
            raise ConnectorConfigError(
                "instructions tell the person what to do.", fields={"instructions": "required"}
            )
        id_types = self.config.get("id_types")
        if (
            not isinstance(id_types, list)
            or not id_types
            or not all(isinstance(t, str) and ID_TYPE.fullmatch(t) for t in id_types)
        ):
            raise ConnectorConfigError(
                "id_types lists the identifier types the person needs.",
                fields={"id_types": "required"},
            )
        self.instructions = instructions.strip()
        self.id_types = frozenset(id_types)

    def start(self, identifiers: Identifiers, *, handover: Handover) -> Awaiting:
        """A person does this one: the run waits in the admin until they attest."""
        self.usable(identifiers)
        return Awaiting.PERSON
