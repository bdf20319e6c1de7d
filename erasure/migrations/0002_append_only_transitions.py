"""A request's audit trail is history: PostgreSQL refuses to UPDATE or DELETE transitions."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION erasure_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the erasure audit trail is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER erasure_transition_append_only
    BEFORE UPDATE OR DELETE ON erasure_transition
    FOR EACH ROW EXECUTE FUNCTION erasure_refuse_change();
"""
DROP = """
DROP TRIGGER IF EXISTS erasure_transition_append_only ON erasure_transition;
DROP FUNCTION IF EXISTS erasure_refuse_change();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("erasure", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
