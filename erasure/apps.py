from django.apps import AppConfig


class ErasureConfig(AppConfig):
    name = "erasure"
    verbose_name = "Erasure"

    def ready(self) -> None:
        from erasure import checks  # noqa: F401  (registers the system checks)

        _declare_queues()
        _register_tasks()
        _register_admin_lists()


def _declare_queues() -> None:
    """A queue per connector kind (see `target_run_enqueue`), declared here from the one list of
    kinds, so a worker started without `--queues` consumes every one of them."""
    from celery import current_app as app
    from kombu import Queue

    from connectors import CONNECTORS

    names = ["celery", *(f"erasure.{kind}" for kind in CONNECTORS)]
    app.conf.task_queues = [Queue(name, routing_key=name) for name in names]


def _register_tasks() -> None:
    """Import every app's `tasks` module now, in every process. Tasks are sent by name (see
    `erasure.dispatch`), and a name not registered in this process is sent to the broker even
    when tasks run in-process: without a broker it would be lost, and the in-process beat
    would find nothing to run."""
    from importlib import import_module

    from django.apps import apps
    from django.utils.module_loading import module_has_submodule

    for config in apps.get_app_configs():
        if module_has_submodule(config.module, "tasks"):
            import_module(f"{config.name}.tasks")


def _register_admin_lists() -> None:
    """The read-only run, shard and affected-model lists the dashboard links to (after
    autodiscovery, which the admin's own ready() has done: it comes first in INSTALLED_APPS)."""
    from django.apps import apps
    from django.contrib import admin

    if apps.is_installed("django.contrib.admin"):
        from erasure.admin.runs import register

        register(admin.site)
