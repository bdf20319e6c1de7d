"""Matching and masking rows of Arrow data, shared by the kinds that read their store as Arrow
(`delta_table`, `lance_table`, `hf_dataset`): the same column resolution, normalization and
masking as `parquet_file`, so a subject is found alike in every one of them.

`ArrowColumns` is mixed into a kind that sets `match` ({id_type: column}), `mask_columns` and
`mask_value` from its config; `_plan(schema, values, op)` resolves them against the data's schema
(refusing a missing column or one that cannot be compared), `matched(data, plan, owners)` gives
the rows to erase and each one's groups, `found(data, plan)` the stored values that matched (in
their own type, for a store that erases by joining on them), and `_masked(table, matched, mask)`
the table with the matched rows masked, and `scanned(batches, plan)` each row's match values
for the subject index.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any

from core.lazy import lazy_module

from .base import Found
from .csv_file import mask_columns_config, mask_value_config
from .errors import ConnectorConfigError
from .parquet_file import (
    ParquetFile,
    _as_text,
    _column,
    _found,
    _hits,
    _matched,
    _Plan,
)
from .schema import SQL_NAME

pa = lazy_module("pyarrow")  # loaded by the first table a process reads (core.lazy)

# A column a store's own SQL names (Delta, Lance): letters, digits and underscores only, so it
# can be quoted without escaping.
SQL_COLUMN = {"type": "string", "pattern": SQL_NAME}
Plan = _Plan
Owners = Mapping[tuple[str, str], list]


def sql_column(name: str) -> bool:
    return re.fullmatch(SQL_NAME, name) is not None


class ArrowColumns:
    """Mixed into a connector whose `match`, `mask_columns` and `mask_value` are set."""

    match: dict[str, str]
    mask_columns: list[str]
    mask_value: str
    kind: str

    # One resolution and one masking for every Arrow-backed kind: `parquet_file`'s.
    _plan = ParquetFile._plan
    _masked = ParquetFile._masked

    def columns_config(self, config: Mapping[str, Any], valid) -> None:
        """`mask_columns` (by default the match columns) and `mask_value`."""
        self.mask_columns = mask_columns_config(config, self.match, valid)
        self.mask_value = mask_value_config(config)

    @staticmethod
    def matched(
        data: pa.Table | pa.RecordBatch, plan: Plan, owners: Owners
    ) -> tuple[pa.Array, list[set]]:
        """The rows to erase as a boolean mask, and the groups each of them belongs to."""
        return _matched(data, plan, owners)

    @staticmethod
    def scanned(batches: Iterable[pa.RecordBatch], plan: Plan) -> Iterator[Found]:
        """Each row's match values (as `parquet_file.scan` yields them), a batch at a time."""
        for batch in batches:
            yield from _found(batch, plan)

    @staticmethod
    def tally(hits: list[set], counts: dict[Hashable, int]) -> None:
        for keys in hits:
            for key in keys:
                counts[key] += 1

    @staticmethod
    def found(data: pa.Table | pa.RecordBatch, plan: Plan) -> dict[str, pa.Array]:
        """Per top-level match column, the values stored there that matched, as stored."""
        values: dict[str, pa.Array] = {}
        for id_type, column in plan.match:
            if len(column) != 1:
                raise ConnectorConfigError(
                    "This kind matches top-level columns only.", fields={"match": id_type}
                )
            raw = _column(data, column)
            text = _as_text(raw)
            hit = _hits(text, id_type, pa.array(plan.values[id_type], text.type))
            chosen = raw.filter(hit)
            if pa.types.is_dictionary(chosen.type):
                chosen = chosen.dictionary_decode()
            earlier = values.get(column[0])
            values[column[0]] = chosen if earlier is None else pa.concat_arrays([earlier, chosen])
        return values
