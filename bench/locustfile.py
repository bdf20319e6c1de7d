"""The users `bench/load.py` runs, one class per scenario. Not imported by anything else: locust
patches the standard library when it is imported, so it runs in a process of its own:

    locust -f bench/locustfile.py --headless -u 16 -r 16 -t 20s --host http://127.0.0.1:8000 \\
        --csv out/consent ConsentCheck

`LUP_LOAD_TOKEN` is an API token with consent:read and erasure:write; `LUP_LOAD_SUBJECTS` a file
of the e-mail addresses of subjects with a consent (bench/load.py makes both).
"""

import os
import random
import uuid
from pathlib import Path

from locust import FastHttpUser, constant, task

TOKEN = os.environ.get("LUP_LOAD_TOKEN", "")
SUBJECTS = (
    Path(os.environ["LUP_LOAD_SUBJECTS"]).read_text().split()
    if os.environ.get("LUP_LOAD_SUBJECTS")
    else []
)
PURPOSE = os.environ.get("LUP_LOAD_PURPOSE", "train_ai_system")


class LupUser(FastHttpUser):
    abstract = True
    wait_time = constant(0)  # each user sends its next request as soon as it has an answer

    def on_start(self):
        self.headers = {"Authorization": f"Bearer {TOKEN}"}


class Healthz(LupUser):
    """The HTTP stack's ceiling: gunicorn and Django's middleware, no database, no token."""

    @task
    def healthz(self):
        self.client.get("/healthz", name="healthz")


class ConsentCheck(LupUser):
    """May this subject's data be used for this purpose? (a known subject, cached or not)."""

    @task
    def check(self):
        body = {
            "subject": {"id_type": "email", "value": random.choice(SUBJECTS)},
            "purpose": PURPOSE,
        }
        self.client.post(
            "/api/v1/consent/check", json=body, headers=self.headers, name="consent check"
        )


class ErasureIntake(LupUser):
    """A new erasure request, committed before it is acknowledged (201)."""

    @task
    def intake(self):
        body = {
            "identifiers": [
                {"id_type": "email", "value": f"load-{uuid.uuid4().hex[:16]}@example.org"}
            ]
        }
        with self.client.post(
            "/api/v1/erasure-requests",
            json=body,
            headers=self.headers,
            name="erasure intake",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"status {response.status_code}")
