"""The client's address: X-Forwarded-For believed from trusted proxies only, read from the right."""

import http.client
import re
from urllib.parse import urlsplit

import pytest
from django.test import RequestFactory

from core.clientip import client_address_of, trusted_networks
from tests import identifiers
from tests.servers import gunicorn, nginx

PROXIES = trusted_networks(["10.0.0.0/8", "2001:db8::/32"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not a proxy of ours: header ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the left part is the client's
        ("10.0.0.2", "198.51.100.1, 10.0.0.7", "198.51.100.1"),  # two proxies of ours
        ("10.0.0.2", "10.0.0.8, 10.0.0.7", "10.0.0.8"),  # all ours: the left-most
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "not-an-address, 198.51.100.1", "10.0.0.2"),  # malformed: not believed
        ("2001:db8::1", "[2001:db8:ffff::5]:443, 198.51.100.1:5555", "198.51.100.1"),
        ("::ffff:10.0.0.2", "198.51.100.1", "198.51.100.1"),
    ],
)
def test_the_client_is_the_right_most_address_that_is_not_a_trusted_proxy(peer, forwarded, client):
    meta = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_address_of(meta, PROXIES) == client


def test_with_no_trusted_proxy_the_header_is_ignored():
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_address_of(request.META, ()) == "127.0.0.1"


# --- behind a real nginx ---------------------------------------------------------------------

# nginx connects to gunicorn from 127.0.0.2; "the load balancer" in front of nginx is 127.0.0.3.
# Both are trusted. A client on 127.0.0.1 is not.
TRUSTED = "127.0.0.2/32,127.0.0.3/32"


class Browser:
    """A client of the deletion form from one source address, with its own cookies."""

    def __init__(self, base: str, source: str, forwarded: str = ""):
        where = urlsplit(base)
        self.host, self.port, self.source, self.forwarded = where.hostname, where.port, source, ""
        self.forwarded = forwarded
        self.cookies: dict[str, str] = {}

    def _send(self, method: str, path: str, body: str = "") -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(
            self.host, self.port, timeout=30, source_address=(self.source, 0)
        )
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if self.forwarded:
            headers["X-Forwarded-For"] = self.forwarded
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body.encode(), headers=headers)
        response = conn.getresponse()
        response.text = response.read().decode()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";")[0]
        conn.close()
        return response

    def file(self) -> int:
        from urllib.parse import urlencode

        form = self._send("GET", "/en/delete/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        body = urlencode(
            {
                "csrfmiddlewaretoken": token,
                "id_type": "email",
                "value": identifiers.email(),
                "country": "KH",
            }
        )
        return self._send("POST", "/en/delete/", body).status


@pytest.mark.slow
def test_behind_nginx_each_client_has_its_own_budget_and_none_can_pick_one(
    tmp_path, transactional_db
):
    env = {"LUP_TRUSTED_PROXIES": TRUSTED, "LUP_PORTAL_RATE_PER_IP": "3"}
    with (
        gunicorn(tmp_path, **env) as web,
        nginx(tmp_path, upstream=web, bind="127.0.0.2") as proxy,
    ):
        first = Browser(proxy, "127.0.0.3", forwarded="198.51.100.1")
        second = Browser(proxy, "127.0.0.3", forwarded="198.51.100.2")
        assert [first.file() for _ in range(4)] == [302, 302, 302, 429]
        # Another client behind the same proxies has a budget of its own.
        assert second.file() == 302

        # A client that writes its own X-Forwarded-For straight to gunicorn is counted by its
        # own address, whatever it claims, and so is one reaching nginx from outside the trust.
        direct = [Browser(web, "127.0.0.1", forwarded=f"198.51.100.{n}") for n in (10, 11, 12)]
        assert [b.file() for b in direct] == [302, 302, 302]
        assert Browser(web, "127.0.0.1", forwarded="198.51.100.13").file() == 429
        assert Browser(proxy, "127.0.0.1", forwarded="198.51.100.14").file() == 429
        # ...and cannot spend another client's budget by naming it.
        assert Browser(web, "127.0.0.1", forwarded="198.51.100.2").file() == 429
        assert second.file() == 302
