import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

from core.startup import announce_mode, start_in_process_beat  # noqa: E402

announce_mode()
# Without a broker tasks run in-process, and so does beat's schedule (the sweeper above all).
start_in_process_beat()
