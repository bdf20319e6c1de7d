"""Bulk inserts: PostgreSQL's COPY where available, the ORM's bulk_create elsewhere.

An import of a hundred thousand events spends most of its time building INSERT statements;
COPY streams the same rows in a fraction of it, inside the caller's transaction.
"""

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models, transaction
from django.db.models.sql import InsertQuery
from psycopg.types.json import Jsonb

BATCH = 5000
# Up to this many rows, `insert_rows` sends one INSERT rather than a COPY.
FEW = 32


def _allocate_ids(model: type[models.Model], count: int) -> list[int]:
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def insert(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert `objs` (primary keys included: auto ids are drawn from the sequence first)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=BATCH)
        return
    meta = model._meta
    if isinstance(meta.pk, models.AutoField | models.BigAutoField) and objs[0].pk is None:
        for obj, pk in zip(objs, _allocate_ids(model, len(objs)), strict=True):
            obj.pk = pk
    fields = [f for f in meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(meta.db_table)
    is_json = [isinstance(f, models.JSONField) for f in fields]
    # COPY bypasses Django's cursor wrapper, so its errors are translated here (a unique
    # violation must reach callers as IntegrityError).
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for obj in objs:
            values = [f.pre_save(obj, add=True) for f in fields]
            copy.write_row(
                [
                    Jsonb(v) if json and v is not None else v
                    for v, json in zip(values, is_json, strict=True)
                ]
            )


def insert_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert plain rows of `fields` (their values as the database takes them), with no model
    instance built for each: for appends of many small rows, such as a log's leaves and nodes.
    Columns left out take their database defaults (an auto id its sequence's next value).
    `rows` may be a generator: COPY sends rows as they come, so the database stores the first
    ones on its own core while the later ones are still being made (signed, say)."""
    rows = iter(rows)
    head = list(itertools.islice(rows, FEW + 1))
    if not head:
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        attnames = [column.attname for column in columns]
        model.objects.bulk_create(
            [model(**dict(zip(attnames, row, strict=True))) for row in itertools.chain(head, rows)],
            batch_size=BATCH,
        )
        return
    names = ", ".join(connection.ops.quote_name(column.column) for column in columns)
    table = connection.ops.quote_name(meta.db_table)
    if len(head) <= FEW:
        # A COPY is two round trips (start, then data and end); a few rows go in one INSERT.
        values = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(head))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {values}",  # noqa: S608 (names quoted)
                [value for row in head for value in row],
            )
        return
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
    ):
        for row in itertools.chain(head, rows):
            copy.write_row(row)


def insert_together(batches: Sequence[tuple[type[models.Model], Sequence[models.Model]]]) -> None:
    """Insert new objects of several models at once, each batch after the ones it refers to:
    on PostgreSQL in one statement (an INSERT a model, as data-modifying CTEs), so one round
    trip stores all or none of them. Objects with an auto primary key get it, as from
    `bulk_create`; no save signals are sent. Elsewhere, `bulk_create` a model, in a transaction.
    """
    batches = [(model, objs) for model, objs in batches if objs]
    if connection.vendor != "postgresql":
        with transaction.atomic(savepoint=False):
            for model, objs in batches:
                model.objects.bulk_create(objs)
        return
    ctes, params, results = [], [], []
    for n, (model, objs) in enumerate(batches):
        meta = model._meta
        auto = meta.pk if meta.pk.db_returning else None
        query = InsertQuery(model)
        query.insert_values([f for f in meta.concrete_fields if f is not auto], objs)
        compiler = query.get_compiler(connection=connection)
        compiler.returning_fields = [auto] if auto else None
        [(statement, values)] = compiler.as_sql()
        ctes.append(f"c{n} AS ({statement})")
        params.extend(values)
        # Drawn from a sequence in the order of the rows: sorted, they are the rows' ids in order.
        if auto is None:
            results.append("NULL")
            continue
        column = connection.ops.quote_name(auto.column)
        results.append(f"(SELECT array_agg({column} ORDER BY {column}) FROM c{n})")  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} SELECT {', '.join(results)}", params)
        ids = cursor.fetchone()
    for (_, objs), returned in zip(batches, ids, strict=True):
        for i, obj in enumerate(objs):
            if returned is not None:
                obj.pk = returned[i]
            obj._state.adding, obj._state.db = False, connection.alias
