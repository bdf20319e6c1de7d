"""Demo data for `make run`: notices in English and Khmer, and a few hundred subjects.

Idempotent: a second run finds the demo notices and adds nothing. Identifiers are synthetic
(`demo-subject-N@example.org`) and never shown; only their keys are stored.
"""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from config.subject_keys import Identifier
from consent.inputs import EventInput, NoticeRef, subject_from_identifier
from consent.models import Notice
from consent.services import consent_events_record, notice_publish

NOTICE_KEY = "lup-demo-privacy"
NOTICE_TEXTS = {
    "en": (
        "How we use your data",
        "We use your conversations to improve and evaluate our assistant. You can withdraw "
        "at any time, and ask us to delete your data everywhere it went.",
    ),
    "km": (
        "របៀបដែលយើងប្រើទិន្នន័យរបស់អ្នក",
        "យើងប្រើការសន្ទនារបស់អ្នក ដើម្បីកែលម្អ និងវាយតម្លៃជំនួយការរបស់យើង។ "
        "អ្នកអាចដកការយល់ព្រមបានគ្រប់ពេល ហើយស្នើឱ្យយើងលុបទិន្នន័យរបស់អ្នកគ្រប់ទីកន្លែង។",
    ),
}
PURPOSES = (
    "train_ai_system",
    "train_ai_system.evaluation",
    "essential.service.inference_logging",
    "marketing.communications.email",
)
JURISDICTIONS = ("KH", "VN", "TH", "SG", "ID", "PH", "MY")
SUBJECTS = 300


def demo_email(n: int) -> str:
    return f"demo-subject-{n}@example.org"


def load_demo(*, subjects: int = SUBJECTS, seed: int = 7) -> int:
    """Load the demo notices and events once; returns the number of events added."""
    if Notice.objects.filter(key=NOTICE_KEY).exists():
        return 0
    rng = random.Random(seed)  # noqa: S311 (synthetic demo data)
    now = timezone.now()
    with transaction.atomic():
        for language, (title, text) in NOTICE_TEXTS.items():
            notice_publish(key=NOTICE_KEY, language=language, title=title, text=text, version=1)
        events = []
        for n in range(subjects):
            identifier = Identifier("email", demo_email(n))
            ref = subject_from_identifier(identifier)
            language = "km" if n % 3 == 0 else "en"
            start = now - timedelta(days=rng.randint(30, 400))
            for purpose in rng.sample(PURPOSES, k=rng.randint(1, 3)):
                events.append(
                    _event(ref, purpose, "given", start, language, rng.choice(JURISDICTIONS))
                )
                if rng.random() < 0.2:
                    later = start + timedelta(days=rng.randint(1, 25))
                    events.append(
                        _event(ref, purpose, "withdrawn", later, language, events[-1].jurisdiction)
                    )
        consent_events_record(events=events)
    return len(events)


def _event(ref, purpose, status, when, language, jurisdiction) -> EventInput:
    return EventInput(
        subject=ref,
        purpose_key=purpose,
        status=status,
        legal_basis="consent",
        jurisdiction=jurisdiction,
        notice=NoticeRef(NOTICE_KEY, 1, language),
        method="web",
        event_time=when,
        expires_at=None,
        data_categories=("user.content",) if purpose.startswith("train") else (),
    )
