"""A module imported on first use rather than when the importing module loads.

Each worker imports every connector (the `CONNECTORS` table), but a worker that erases JSON Lines
shards never touches pyarrow, deltalake or boto3, which together hold about 100 MB of every
worker's memory once imported. A connector module names such a library `lazy_module("pyarrow")`
and uses it as usual (`pa.table(...)`); the library loads when the first attribute is read,
in the process that needs it. Type hints that name the library's classes are strings
(`from __future__ import annotations`), so defining a function does not load it either.
"""

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """Stands for module `name`; the first attribute read imports it."""

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        # Later reads find the real module's attributes on this one: no import call again.
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


def lazy_module(name: str) -> Any:
    return LazyModule(name)
