"""Insert many new rows in one statement, without the ORM's per-value work.

`QuerySet.bulk_create` prepares every value through its field (pre_save, get_db_prep_save,
placeholders), which on the authorization hot path was a quarter of a decision's CPU.
`bulk_insert` sends the attribute values as they are, which is exactly what those fields
would produce for the types psycopg adapts natively (ints, strings, booleans, datetimes,
UUIDs, None, foreign key ids). It refuses a model with any other kind of field, or with
auto_now fields, rather than guess. `insert_rows` writes plain tuples into a table of the
caller's own app (usage records, lot allocations): COPY for many, one INSERT for a few.
"""

from collections.abc import Sequence

from django.db import connection, models

_PLAIN_FIELDS = (
    models.BigIntegerField,
    models.IntegerField,
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.DateTimeField,
    models.UUIDField,
    models.ForeignKey,  # OneToOneField is one too: the value is the related id (attname)
)


def _plain(field: models.Field) -> bool:
    return isinstance(field, _PLAIN_FIELDS) and not (
        getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    )


def bulk_insert(objs: Sequence[models.Model]) -> None:
    """INSERT `objs` (new instances of one model) and set their primary keys, in order."""
    if not objs:
        return
    meta = type(objs[0])._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    odd = [field.name for field in fields if not _plain(field)]
    assert not odd, f"bulk_insert cannot write {meta.label}.{odd}: use bulk_create"
    quote = connection.ops.quote_name
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {quote(meta.db_table)}"
        f" ({', '.join(quote(field.column) for field in fields)})"
        f" VALUES {', '.join([placeholders] * len(objs))}"
        f" RETURNING {quote(meta.pk.column)}"
    )
    attnames = [field.attname for field in fields]
    params = [getattr(obj, attname) for obj in objs for attname in attnames]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # PostgreSQL returns the rows of INSERT ... VALUES in the order given (Django's
        # own bulk_create relies on it too).
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


COPY_THRESHOLD_ROWS = 64  # below this a multi-row INSERT beats COPY's set-up


def insert_rows(table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Write `rows` (tuples in `columns` order) into `table` with one statement."""
    if not rows:
        return
    column_list = ", ".join(columns)
    with connection.cursor() as cursor:
        if len(rows) >= COPY_THRESHOLD_ROWS:
            with cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
        cursor.execute(
            f"INSERT INTO {table} ({column_list}) VALUES {', '.join([placeholders] * len(rows))}",
            [value for row in rows for value in row],
        )
