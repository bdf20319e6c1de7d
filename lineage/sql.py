"""A filter on a long list of values as one array parameter.

`field__in=[…10,000 values…]` sends ten thousand parameters, and psycopg spends longer
preparing them (or an array of them) than PostgreSQL spends answering; here the values go as
one JSON text that PostgreSQL unpacks. Other databases (SQLite, the embedded mode) get the
ordinary `__in`.
"""

import json
from collections.abc import Iterable

from django.db import connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL


def among(model, field: str, values: Iterable) -> Q | RawSQL:
    """`model.field IN values`, for the model's own table (no joins)."""
    values = list(values)
    if connection.vendor != "postgresql":
        return Q(**{f"{field}__in": values})
    quote = connection.ops.quote_name
    target = model._meta.get_field(field)
    column = f"{quote(model._meta.db_table)}.{quote(target.column)}"
    kind = column_type(target)
    # Names come from the model; the values are one bound parameter.
    return RawSQL(  # noqa: S611
        f"{column} IN (SELECT value::{kind} FROM json_array_elements_text(%s::json))",  # noqa: S608
        (json.dumps(values, default=str),),
        output_field=BooleanField(),
    )


def column_type(field) -> str:
    """The PostgreSQL type a column's values are cast to (a foreign key: its target's)."""
    kind = (field.target_field if field.is_relation else field).db_type(connection)
    return {"bigserial": "bigint", "serial": "integer"}.get(kind, kind)
