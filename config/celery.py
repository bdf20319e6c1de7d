import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("lup")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(*, task, **kwargs) -> None:
    """Around a task, what Django does around a web request: close a database connection past
    its age (`CONN_MAX_AGE`) or broken, and check a kept one before its next use. A task run in
    its caller's process (no broker) is part of the caller's work, whose connection it keeps."""
    if task.request.is_eager:
        return
    from django.db import close_old_connections  # Django is set up by the time tasks run

    close_old_connections()
