"""The scrubber: generated e-mail addresses and South-East Asian phone numbers, as written,
percent-encoded, in paths and in query strings, written through every logger (Lup's own,
Django's request and server loggers, gunicorn's access log), and found nowhere in the output."""

import importlib.util
import json
import logging
import os
import re
import string
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.logconfig import LUP_LOGGERS
from core.scrub import redact_path, scrub_text

ROOT = Path(__file__).resolve().parents[2]
LOGGERS = (*LUP_LOGGERS, "django.request", "django.server")

_piece = st.builds(
    lambda letters, digit: letters + digit,
    st.text(alphabet=string.ascii_lowercase + "áéñ", min_size=2, max_size=7),
    st.sampled_from(string.digits),
)
_joiner = st.sampled_from([".", "'", "_", "-", "+"])
_domain = st.sampled_from(["example.com", "mail.example.org", "ex-ample.co.th", "example.com.kh"])


@st.composite
def emails(draw) -> tuple[str, list[str]]:
    pieces = draw(st.lists(_piece, min_size=1, max_size=3))
    local = pieces[0]
    for piece in pieces[1:]:
        local += draw(_joiner) + piece
    return f"{local}@{draw(_domain)}", pieces


def _groups(*sizes: int):
    return st.tuples(*(st.text(alphabet=string.digits, min_size=n, max_size=n) for n in sizes))


_sep = st.sampled_from([" ", "-", ".", ""])
# (country code, trunk-less operator prefix sizes): Khmer 0XX XXX XXX(X), Thai 0X XXX XXXX,
# Vietnamese 0XX XXX XXXX, and with +855, +66, +84.
_PLANS = {
    "855": (2, 3, 3),
    "855b": (2, 3, 4),
    "66": (2, 3, 4),
    "84": (2, 3, 4),
    "84b": (2, 3, 2, 2),
}


@st.composite
def phones(draw) -> tuple[str, list[str]]:
    plan = draw(st.sampled_from(sorted(_PLANS)))
    groups = list(draw(_groups(*_PLANS[plan])))
    groups[0] = draw(st.sampled_from("16789")) + groups[0][1:]  # mobile operators
    sep = draw(_sep)
    if draw(st.booleans()):
        written = f"+{plan.rstrip('b')} " + sep.join(groups)
    else:
        written = "0" + sep.join(groups)
    return written, ["".join(groups)]


@st.composite
def placed(draw) -> tuple[str, str, list[str]]:
    """(line to log, the identifier as generated, fragments that must not appear)."""
    value, pieces = draw(st.one_of(emails(), phones()))
    encoded = draw(st.sampled_from([value, quote(value, safe=""), quote(value, safe="@+")]))
    where = draw(
        st.sampled_from(
            [
                "Not Found: /en/requests/{v}/",
                "Bad Request: /km/consents/confirm/{v}/",
                '"GET /th/delete/?id_type=phone&value={v} HTTP/1.1" 400 1234',
                '"GET /api/v1/consent/check?subject={v}&purpose=x HTTP/1.1" 200 12',
                "lookup for {v} failed",
                "phone={v}",
            ]
        )
    )
    return where.format(v=encoded), value, pieces


# What the logging itself adds (the test's marker, request ids, times): hex and digits in
# which a short generated piece may occur by chance.
ADDED = re.compile(r"mark-[0-9a-f]{12}|[0-9a-f]{32}|\d{4}-\d\d-\d\dT[\d:.]+Z?")


def _leaks(output: str, value: str, pieces: list[str]) -> list[str]:
    forms = {value, quote(value, safe=""), quote(value, safe="@+"), *pieces}
    digits = "".join(c for c in value if c.isdigit())
    if "@" not in value:
        forms.add(digits)
    visible = ADDED.sub("", output).lower()
    return sorted(f for f in forms if f and f.lower() in visible)


def _new_log_text(offset: int) -> str:
    with open(os.environ["LUP_LOG_FILE"], encoding="utf-8") as log:
        log.seek(offset)
        return log.read()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=placed(), logger=st.sampled_from(LOGGERS), structured=st.booleans())
def test_no_generated_identifier_survives_any_logger(case, logger, structured):
    line, value, pieces = case
    marker = f"mark-{uuid.uuid4().hex[:12]}"
    offset = Path(os.environ["LUP_LOG_FILE"]).stat().st_size
    if structured:
        structlog.get_logger(logger).warning(f"{marker} {line}", detail=line)
    else:
        logging.getLogger(logger).warning("%s %s", marker, line)
    output = _new_log_text(offset)
    assert marker in output
    assert _leaks(output, value, pieces) == [], output


def _gunicorn_conf() -> dict:
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "deploy/gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return vars(module)


@settings(max_examples=100, deadline=None)
@given(
    identifier=st.one_of(emails(), phones()),
    route=st.sampled_from(["/en/requests/{v}/", "/km/consents/confirm/{v}/", "/th/x/{v}"]),
)
def test_no_generated_identifier_survives_the_access_log(identifier, route):
    """gunicorn hands the logger a decoded path and the raw query string."""
    from gunicorn.config import Config

    value, pieces = identifier
    conf = _gunicorn_conf()
    cfg = Config()
    cfg.set("access_log_format", conf["access_log_format"])
    logger = conf["logger_class"](cfg)

    class Response:
        status, sent, headers = "404 Not Found", 0, []

    class Request:
        headers = []

    query = f"phone={quote(value, safe='')}"
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": route.format(v=value),
        "RAW_URI": route.format(v=quote(value)) + "?" + query,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    atoms = logger.atoms_wrapper_class(
        logger.atoms(Response(), Request(), environ, timedelta(milliseconds=3))
    )
    output = conf["access_log_format"] % atoms
    json.loads(output)
    assert _leaks(output, value, pieces) == [], output


def test_the_issues_examples():
    assert scrub_text("o'neil.sokha@example.com") == "[scrubbed]"
    assert scrub_text("call 099 111 333") == "call [scrubbed]"
    assert scrub_text("/x/careless-pct%40example.net") == "/x/[scrubbed]"
    assert redact_path("/en/delete/?phone=099%20111%20444") == "/en/delete/?phone=[scrubbed]"


def test_bearer_secrets_in_paths_become_scrubbed_and_route_words_stay():
    assert redact_path("/en/requests/abcDEF_123/confirm/") == "/en/requests/[scrubbed]/confirm/"
    bundle = "/en/requests/[scrubbed]/receipts.json"
    assert redact_path("/en/requests/t0k3n/receipts.json") == bundle
    assert redact_path("/km/consents/confirm/h4ndle/") == "/km/consents/confirm/[scrubbed]/"
    assert redact_path("/api/v1/bundles/eyJyIjoiMSJ9:1t:Zm9v") == "/api/v1/bundles/[scrubbed]"
    kept = "/api/v1/erasure/requests/0b9f2a4e-2c1d-4e8b-9a3f-5d6c7b8a9e0f/plan"
    assert redact_path(kept) == kept
    assert scrub_text("at 2026-11-27T03:00:00Z count 100000 v1.2.3 10.0.0.1 HTTP/1.1") == (
        "at 2026-11-27T03:00:00Z count 100000 v1.2.3 10.0.0.1 HTTP/1.1"
    )
