"""The purpose tree: fideslang's data uses, and the AI purposes Lup adds below them."""

from django.db import migrations


def load(apps, schema_editor):
    from consent.taxonomy import AI_PURPOSES, data_uses

    Purpose = apps.get_model("consent", "Purpose")
    for key, parent_key, name, description in data_uses():
        parent = Purpose.objects.get(key=parent_key) if parent_key else None
        Purpose.objects.get_or_create(
            key=key, defaults={"parent": parent, "name": name, "description": description}
        )
    for key, parent_key, name, description in AI_PURPOSES:
        Purpose.objects.get_or_create(
            key=key,
            defaults={
                "parent": Purpose.objects.get(key=parent_key),
                "name": name,
                "description": description,
                "is_custom": True,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("consent", "0002_append_only_events")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
