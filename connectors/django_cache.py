"""`django_cache`: keys on one of this deployment's Django cache aliases.

Config:

    {
        "alias": "default",                          # a key of settings.CACHES
        "keys": ["profile:{user_id}", "consent-banner:{email}"],   # key templates
        "timeout_seconds": 30,
    }

Templates name identifier types in braces; every placeholder's type must be given for a key to
be formed. Not supported: patterns (`*`): Django's cache API cannot scan, so each key is named
exactly — use the `redis` connector for patterns.
"""

import re
from itertools import product
from typing import Any

import structlog
from django.core.cache import caches
from django.core.cache.backends.base import InvalidCacheBackendError

from . import schema
from .base import (
    Capability,
    Connector,
    ConnectorConfigError,
    Erased,
    Identifiers,
    Located,
    Verified,
)

log = structlog.get_logger(__name__)

PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,31})\}")
LITERAL = re.compile(r"^[^{}*?\[\]\s]*$")


class DjangoCache(Connector):
    kind = "django_cache"
    config_schema = schema.config(
        description="Keys on one of this deployment's Django cache aliases, named exactly "
        "(no patterns: use redis for those).",
        properties={
            "alias": {
                "type": "string",
                "minLength": 1,
                "default": "default",
                "description": "A key of `CACHES` in the settings.",
            },
            "keys": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "description": "Key templates: text with {id_type} placeholders (each names an "
                "identifier type the target is keyed by), no * ? [ ] or spaces.",
            },
        },
        required=["keys"],
        example={"keys": ["profile:{user_id}", "consent-banner:{email}"]},
    )
    capabilities = frozenset({Capability.LOCATE, Capability.DELETE, Capability.VERIFY})
    erase_method = "cache-delete-many"
    verify_method = "cache-get-many"

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        alias = self.config.get("alias", "default")
        try:
            self.cache = caches[alias]
        except (InvalidCacheBackendError, TypeError):
            raise ConnectorConfigError(
                "alias is not a configured cache.", fields={"alias": "unknown cache"}
            ) from None
        templates = self.config.get("keys")
        if not isinstance(templates, list) or not templates:
            raise ConnectorConfigError(
                "keys is a list of key templates.", fields={"keys": "required"}
            )
        types: set[str] = set()
        for position, template in enumerate(templates):
            names = PLACEHOLDER.findall(template) if isinstance(template, str) else []
            literal = PLACEHOLDER.sub("", template) if isinstance(template, str) else "*"
            if not names or not LITERAL.match(literal):
                raise ConnectorConfigError(
                    "A key template is text with {id_type} placeholders, and no patterns.",
                    fields={f"keys.{position}": "invalid template"},
                )
            types.update(names)
        self.templates = list(templates)
        self.id_types = frozenset(types)

    def _keys(self, identifiers: Identifiers) -> list[str]:
        values = self.usable(identifiers)
        keys: list[str] = []
        for template in self.templates:
            names = PLACEHOLDER.findall(template)
            if not all(name in values for name in names):
                continue
            for combination in product(*(values[name] for name in names)):
                key = template
                for name, value in zip(names, combination, strict=True):
                    key = key.replace("{" + name + "}", value)
                keys.append(key)
        return list(dict.fromkeys(keys))

    def _present(self, keys: list[str]) -> int:
        return len(self.cache.get_many(keys)) if keys else 0

    def locate(self, identifiers: Identifiers) -> Located:
        return Located(count=self._present(self._keys(identifiers)))

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        self.require(Capability.for_op(op))
        keys = self._keys(identifiers)
        started = self._now()
        found = self._present(keys)
        if found:
            self.cache.delete_many(keys)
        log.info("connector.erase", kind=self.kind, count=found)
        return Erased(
            op="delete" if found else "none",
            method=self.erase_method,
            count=found,
            started_at=started,
            completed_at=self._now(),
        )

    def verify(self, identifiers: Identifiers) -> Verified:
        remaining = self._present(self._keys(identifiers))
        return Verified(method=self.verify_method, remaining=remaining, at=self._now())
