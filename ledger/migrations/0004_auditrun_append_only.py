"""Audit outcomes are history too: the log's trigger function refuses UPDATE and DELETE of
them (defined in 0002_append_only)."""

from django.db import migrations

TABLE = "ledger_auditrun"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();",
            params=None,
        )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE};", params=None
        )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_auditrun")]

    operations = [migrations.RunPython(forward, backward)]
