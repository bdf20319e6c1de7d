"""The purpose tree: fideslang's data uses, and the AI purposes Lup adds below them."""

from django.db import migrations

CUSTOM = (
    ("train_ai_system.fine_tuning", "train_ai_system", "Fine-tuning",
     "Adapting a trained model to a task with the subject's data."),
    ("train_ai_system.evaluation", "train_ai_system", "Evaluation",
     "Measuring a model on evaluation sets that hold the subject's data."),
    ("essential.service.inference_logging", "essential.service", "Inference logging",
     "Keeping the subject's prompts and a model's answers in logs."),
)


def load(apps, schema_editor):
    from consent.taxonomy import data_uses

    Purpose = apps.get_model("consent", "Purpose")
    for key, parent_key, name, description in data_uses():
        parent = Purpose.objects.get(key=parent_key) if parent_key else None
        Purpose.objects.get_or_create(
            key=key, defaults={"parent": parent, "name": name, "description": description}
        )
    for key, parent_key, name, description in CUSTOM:
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
