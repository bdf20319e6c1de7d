"""The staff audit is history: PostgreSQL itself refuses to UPDATE or DELETE its rows."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION access_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the staff audit is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER access_staffaction_append_only
    BEFORE UPDATE OR DELETE ON access_staffaction
    FOR EACH ROW EXECUTE FUNCTION access_refuse_change();
"""
DROP = """
DROP TRIGGER IF EXISTS access_staffaction_append_only ON access_staffaction;
DROP FUNCTION IF EXISTS access_refuse_change();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("access", "0003_staffaction")]

    operations = [migrations.RunPython(forward, backward)]
