"""The filter a training job calls before it reads its data."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentState
from tests import identifiers
from tests.consent import factories as f

pytestmark = pytest.mark.django_db
URL = "/api/v1/consent/filter"


@pytest.fixture
def reader(api):
    f.notice()
    return api("consent:read")


def post(client, lines: bytes, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.generic("POST", f"{URL}?{query}", lines, content_type="text/plain")


def streamed(response) -> list[str]:
    assert response.status_code == 200, response.content[:500]
    assert response.streaming
    return b"".join(response.streaming_content).decode().splitlines()


@pytest.mark.slow
def test_a_million_keys_in_the_allowed_subset_out_in_input_order(reader):
    rng = random.Random(20261127)
    now = timezone.now()
    # 3,000 registered subjects with varied histories; the rest of the million are strangers.
    refs = [f.subject() for _ in range(3000)]
    expected_allowed = set()
    events = []
    for i, ref in enumerate(refs):
        kind = i % 6
        if kind == 0:  # broad grant covers the narrow purpose
            events.append(f.event(ref, "train_ai_system", at=now - timedelta(days=3)))
            expected_allowed.add(ref.key)
        elif kind == 1:  # narrow grant
            events.append(f.event(ref, "train_ai_system.evaluation", at=now - timedelta(days=3)))
            expected_allowed.add(ref.key)
        elif kind == 2:  # grant, then broad withdrawal
            events.append(f.event(ref, "train_ai_system.evaluation", at=now - timedelta(days=3)))
            events.append(f.event(ref, "train_ai_system", "withdrawn", at=now - timedelta(days=1)))
        elif kind == 3:  # another purpose only
            events.append(f.event(ref, "marketing", at=now - timedelta(days=3)))
        elif kind == 4:  # expired
            events.append(
                f.event(
                    ref,
                    "train_ai_system",
                    at=now - timedelta(days=3),
                    expires_at=now - timedelta(days=1),
                )
            )
        else:  # refused the narrow purpose under a broad grant
            events.append(f.event(ref, "train_ai_system", at=now - timedelta(days=3)))
            events.append(
                f.event(ref, "train_ai_system.evaluation", "refused", at=now - timedelta(days=2))
            )
    f.record(*events)
    assert ConsentState.objects.count() == 3000 + 1000

    keys = [f"{rng.getrandbits(256):064x}" for _ in range(1_000_000 - len(refs))]
    keys.extend(ref.key for ref in refs)
    rng.shuffle(keys)
    body = ("\n".join(keys) + "\n").encode()

    out = streamed(post(reader, body, purpose="train_ai_system.evaluation", id_type="key"))
    assert set(out) == expected_allowed
    assert len(out) == len(expected_allowed) == 1000
    position = {key: i for i, key in enumerate(keys)}
    assert out == sorted(out, key=position.__getitem__)


def test_identifiers_are_hashed_on_arrival_and_returned_as_written(reader):
    allowed, refused = identifiers.email(), identifiers.email()
    f.record(f.event(f.subject(allowed), "train_ai_system"))
    f.record(f.event(f.subject(refused), "train_ai_system", "refused"))
    body = f"  {allowed.upper()}\n{refused}\n{identifiers.email()}\n".encode()
    out = streamed(post(reader, body, purpose="train_ai_system", id_type="email"))
    assert out == [allowed.upper()]


def test_phone_numbers_in_any_spelling(reader, settings):
    settings.LUP_PHONE_DEFAULT_REGION = "KH"
    phone = identifiers.khmer_phone()
    f.record(f.event(f.subject(identifiers.email()), "marketing"))
    from consent.inputs import subject_ref

    f.record(f.event(subject_ref({"id_type": "phone", "value": phone}), "marketing"))
    national = "0" + phone.replace("+855", "").replace(" ", "")
    identifiers.USED.add(national)
    out = streamed(post(reader, f"{national}\n".encode(), purpose="marketing", id_type="phone"))
    assert out == [national]


@pytest.mark.parametrize(
    ("body", "params", "status", "code"),
    [
        (b"a" * 64 + b"\n", {"purpose": "no.such", "id_type": "key"}, 404, "unknown_purpose"),
        (b"a" * 64 + b"\n", {"id_type": "key"}, 400, "missing_purpose"),
        (
            b"a" * 64 + b"\n",
            {"purpose": "marketing", "id_type": "Bad Type"},
            400,
            "invalid_id_type",
        ),
        (b"nothex\n", {"purpose": "marketing", "id_type": "key"}, 400, "filter_rejected"),
        (b"\xff\xfe\n", {"purpose": "marketing", "id_type": "email"}, 400, "filter_rejected"),
    ],
)
def test_bad_filter_input_is_refused_before_any_output(reader, body, params, status, code):
    response = post(reader, body, **params)
    assert response.status_code == status
    assert not response.streaming
    assert response.json()["code"] == code


def test_the_rejection_report_names_lines_and_codes_only(reader):
    bad = identifiers.email().replace("@", "")
    body = f"{identifiers.email()}\n{bad}\n".encode()
    response = post(reader, body, purpose="marketing", id_type="email")
    assert response.status_code == 400
    assert response.json()["fields"]["lines"] == [
        {"line": 2, "field": "line", "code": "invalid_email"}
    ]
    assert bad not in response.content.decode()


def test_a_filter_over_the_line_limit_gets_413(reader, settings):
    settings.LUP_CONSENT_FILTER_MAX_LINES = 10
    response = post(
        reader, b"".join(b"a" * 64 + b"\n" for _ in range(11)), purpose="marketing", id_type="key"
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
