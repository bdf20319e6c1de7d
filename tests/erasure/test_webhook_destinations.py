"""A webhook target sends subjects' identifiers out of Lup's network, never into it: inside
addresses are refused when the target is registered and again when it is called, after the
name is resolved, and the call goes to the address that was checked."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from connectors.destinations import check_registered
from connectors.errors import ConnectorConfigError
from erasure.models import ErasureRequest, Target, TargetRun
from erasure.services import erasure_request_transition
from erasure.tasks import erasure_run_target
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets

pytestmark = pytest.mark.django_db
TARGETS = "/api/v1/erasure/targets"
REQUESTS = "/api/v1/erasure-requests"
SECRET = "destination-test-secret"
PUBLIC = "93.184.215.14"  # a public address; nothing here ever connects to it
TOKEN = "tok-9f8e7d"  # a secret some systems put in the URL; never repeated back


@pytest.fixture
def staff(api, monkeypatch):
    monkeypatch.setenv("CRM_HOOK_SECRET", SECRET)
    return api("erasure:write", "erasure:read")


def register(staff, url: str):
    return staff.post(
        TARGETS,
        {
            "name": "crm-hook",
            "kind": "webhook",
            "country": "MY",
            "always": True,
            "config": {
                "url": url,
                "secret_env": "CRM_HOOK_SECRET",
                "id_types": ["email"],
                "timeout_seconds": 5,
            },
        },
        format="json",
    )


@pytest.fixture
def dns(monkeypatch):
    """Names this test makes resolve (DNS is not ours to run): `dns["crm.test"] = "10.0.0.1"`.
    Any other name, and every address, resolves as it always does."""
    names: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            return real(names[host], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def serve(received: list[dict], answer: dict, tls=None) -> HTTPServer:
    """A system on loopback that records what reaches it and answers as `answer` says; over
    TLS with the server context `tls`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"host": self.headers["Host"], "body": json.loads(body)})
            self.send_response(answer["status"])
            for name, value in answer["headers"].items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(answer["body"]).encode())

        def log_message(self, *args):  # keep identifiers out of the test output
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def endpoint():
    received: list[dict] = []
    answer = {"status": 200, "body": {"erased": 1, "remaining": 0}, "headers": {}}
    server = serve(received, answer)
    yield server.server_port, received, answer
    server.shutdown()


def executing_run(staff) -> TargetRun:
    """A request planned onto the one registered (and approved) webhook target."""
    approve_proposed_targets()
    created = staff.post(
        REQUESTS,
        {"identifiers": [{"id_type": "email", "value": identifiers.email()}]},
        format="json",
    ).json()
    request = ErasureRequest.objects.get(pk=created["id"])
    erasure_request_transition(
        request=request, to_state="verified", actor="staff:t", reason="checked"
    )
    staff.post(f"{REQUESTS}/{request.pk}/plan")
    return TargetRun.objects.get(request=request)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("169.254.169.254", "link_local"),  # a cloud's metadata service
        ("[::1]", "loopback"),
        ("localhost", "loopback"),  # a name resolving to 127.0.0.1
    ],
)
@pytest.mark.parametrize("scheme", ["https", "http"])
def test_an_inside_destination_is_refused_at_registration_and_nothing_is_stored(
    staff, settings, scheme, host, reason
):
    settings.EMBEDDED = True  # where http:// is allowed, so the address is what is refused
    answer = register(staff, f"{scheme}://{host}:6379/erase/{TOKEN}")
    assert answer.status_code == 400
    body = answer.json()
    assert (body["code"], body["fields"]) == ("webhook_destination_refused", {"url": reason})
    assert TOKEN not in answer.content.decode()
    assert not Target.objects.exists()


def test_plain_http_is_refused_outside_embedded_mode(staff, settings):
    settings.EMBEDDED = False
    answer = register(staff, "http://crm.example.org/erase")
    assert answer.status_code == 400
    assert (answer.json()["code"], answer.json()["fields"]) == (
        "webhook_destination_refused",
        {"url": "https_required"},
    )
    assert not Target.objects.exists()
    # The same system over HTTPS is registered (proposed, for an officer to approve).
    assert register(staff, "https://crm.example.org/erase").status_code == 201


def test_plain_http_stays_allowed_in_embedded_mode(staff, settings):
    settings.EMBEDDED = True
    assert register(staff, "http://crm.example.org/erase").status_code == 201


@pytest.mark.parametrize(
    "host",
    [
        "[::ffff:127.0.0.1]",  # IPv4 inside IPv6
        "[2002:7f00:1::]",  # 6to4 carrying 127.0.0.1
        "[fd00::1]",  # unique local (fc00::/7)
        "[fe80::1]",
        "[::]",
        "0.0.0.0",  # noqa: S104 - a destination here, not a bind
        "100.64.0.1",  # carrier-grade NAT
        "192.168.1.1",
        "224.0.0.1",  # multicast
        "[ff02::1]",
        "240.0.0.1",  # reserved
        "198.18.0.1",  # benchmarking
        "2130706433",  # 127.0.0.1 written as one number, as resolvers accept it
    ],
)
def test_every_kind_of_inside_address_is_refused(settings, host):
    settings.LUP_WEBHOOK_ALLOW_NETWORKS = []
    with pytest.raises(ConnectorConfigError) as excinfo:
        check_registered(f"https://{host}/erase")
    assert excinfo.value.code == "webhook_destination_refused"


@pytest.mark.parametrize("host", ["8.8.8.8", "[2606:4700::1111]", "[::ffff:8.8.8.8]"])
def test_a_public_address_is_allowed(host):
    check_registered(f"https://{host}/erase")


def test_credentials_in_the_url_are_refused_and_not_repeated(staff):
    answer = register(staff, f"https://crm:{TOKEN}@crm.example.org/erase")
    assert answer.status_code == 400
    assert answer.json()["code"] == "credentials_in_url"  # refused before any lookup
    assert TOKEN not in answer.content.decode()
    assert not Target.objects.exists()


def test_a_listed_network_is_allowed_and_only_it(staff, settings):
    settings.LUP_WEBHOOK_ALLOW_NETWORKS = ["10.1.2.0/24"]
    refused = register(staff, "https://10.1.3.7/erase")
    assert (refused.status_code, refused.json()["fields"]) == (400, {"url": "private"})
    assert register(staff, "https://10.1.2.7/erase").status_code == 201
    assert Target.objects.get().config["url"] == "https://10.1.2.7/erase"


def test_a_name_that_rebinds_to_an_inside_address_is_refused_when_called(
    staff, settings, dns, endpoint, django_capture_on_commit_callbacks
):
    """Registered and approved while the name pointed outside; by the time the request runs,
    it points at a system on loopback. Nothing is sent, and the run fails with why."""
    settings.EMBEDDED = True
    port, received, _ = endpoint
    dns["crm.test"] = PUBLIC
    assert register(staff, f"http://crm.test:{port}/erase").status_code == 201
    with django_capture_on_commit_callbacks(execute=False):
        run = executing_run(staff)
    dns["crm.test"] = "127.0.0.1"
    with django_capture_on_commit_callbacks(execute=True):
        assert erasure_run_target.apply(args=[run.pk]).get() == "failed"
    run.refresh_from_db()
    assert (run.status, run.last_error, run.attempts) == (
        "failed",
        "webhook_destination_refused",
        1,
    )
    assert received == []
    assert ErasureRequest.objects.get(pk=run.request_id).state == "partially_completed"


def test_the_call_goes_to_the_address_that_was_checked(
    staff, settings, dns, endpoint, monkeypatch, django_capture_on_commit_callbacks
):
    """The name is resolved once and the connection goes to that address, whatever the name
    resolves to a moment later; the `Host` header still names the host."""
    settings.EMBEDDED = True
    settings.LUP_WEBHOOK_ALLOW_NETWORKS = ["127.0.0.1/32"]  # the test's system, on loopback
    port, received, _ = endpoint
    dns["crm.test"] = "127.0.0.1"
    assert register(staff, f"http://crm.test:{port}/erase").status_code == 201
    with django_capture_on_commit_callbacks(execute=False):
        run = executing_run(staff)

    resolve = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host, *args, **kwargs):
        # The first lookup of the name is the one checked; any later one would go elsewhere.
        found = resolve(host, *args, **kwargs)
        if host == "crm.test":
            lookups.append(host)
            dns["crm.test"] = "10.0.0.1"
        return found

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with django_capture_on_commit_callbacks(execute=True):
        assert erasure_run_target.apply(args=[run.pk]).get() == "done"
    assert lookups == ["crm.test"]
    assert received[0]["host"] == f"crm.test:{port}"
    assert TargetRun.objects.get(pk=run.pk).outcome == "erased"


def test_a_redirect_is_not_followed(staff, settings, endpoint, django_capture_on_commit_callbacks):
    settings.EMBEDDED = True
    settings.LUP_WEBHOOK_ALLOW_NETWORKS = ["127.0.0.1/32"]
    port, received, answer = endpoint
    answer.update(status=307, body={}, headers={"Location": "http://169.254.169.254/latest"})
    assert register(staff, f"http://127.0.0.1:{port}/erase").status_code == 201
    with django_capture_on_commit_callbacks(execute=False):
        run = executing_run(staff)
    with django_capture_on_commit_callbacks(execute=True):
        assert erasure_run_target.apply(args=[run.pk]).get() == "failed"
    run.refresh_from_db()
    assert (run.last_error, len(received)) == ("webhook_destination_refused", 1)


def certificate(tmp_path, name: str) -> tuple[str, str]:
    """A self-signed certificate for `name` (and its key), as PEM files."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.mark.parametrize(
    ("served_as", "outcome"), [("crm.test", "done"), ("other.test", "pending")]
)
def test_https_to_the_checked_address_still_names_the_host(
    staff,
    settings,
    dns,
    tmp_path,
    monkeypatch,
    request,
    served_as,
    outcome,
    django_capture_on_commit_callbacks,
):
    """Connected by address, TLS still sends the name (SNI) and checks the certificate against
    it: a certificate for another name is refused and nothing is sent."""
    import ssl

    from connectors import destinations

    settings.LUP_WEBHOOK_ALLOW_NETWORKS = ["127.0.0.1/32"]  # the test's system, on loopback
    cert, key = certificate(tmp_path, served_as)
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    names: list[str] = []
    served.sni_callback = lambda sock, name, context: names.append(name)
    received: list[dict] = []
    answer = {"status": 200, "body": {"erased": 1, "remaining": 0}, "headers": {}}
    server = serve(received, answer, tls=served)
    request.addfinalizer(server.shutdown)
    tls_port = server.server_port
    # Lup trusts the test's certificate as it would a public authority's.
    monkeypatch.setattr(
        destinations, "tls_context", lambda: ssl.create_default_context(cafile=cert)
    )
    dns["crm.test"] = "127.0.0.1"
    assert register(staff, f"https://crm.test:{tls_port}/erase").status_code == 201
    with django_capture_on_commit_callbacks(execute=False):
        run = executing_run(staff)
    with django_capture_on_commit_callbacks(execute=True):
        assert erasure_run_target.apply(args=[run.pk]).get() == outcome
    assert names == ["crm.test"]
    if outcome == "done":
        assert received[0]["host"] == f"crm.test:{tls_port}"
    else:
        assert received == []
        run.refresh_from_db()
        assert run.last_error == "target_unavailable"
