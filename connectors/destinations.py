"""Where a webhook may send a subject's identifiers: public HTTPS endpoints, nothing inside.

A target's URL is written by staff, but the request goes out from Lup's own network, where the
broker, the database, the admin and a cloud's metadata service (169.254.169.254) answer. So a
destination is refused (`webhook_destination_refused`) when:

- its scheme is `http` outside embedded mode (a local demo may use plain HTTP);
- any address its host resolves to is loopback, private (ULA `fc00::/7` too), link-local,
  multicast, reserved, unspecified or otherwise not public (carrier-grade NAT `100.64.0.0/10`,
  documentation ranges); an IPv4 address inside IPv6 (`::ffff:127.0.0.1`, 6to4) is judged as
  the IPv4 address it carries;

unless the address lies in `LUP_WEBHOOK_ALLOW_NETWORKS`. It is checked when the target is
registered (a name that does not resolve yet passes there) and again at every send:
`resolved(url)` looks the name up once and checks every address, and `PinnedConnection`
connects to those addresses only, never resolving the name again, so a name cannot rebind to
an inside address between the check and the connection. TLS still names the host (SNI and the
certificate check), and so does the `Host` header. Redirects are never followed.
"""

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from .errors import ConnectorConfigError, TargetUnavailable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"https": 443, "http": 80}
SHOWN = {"not_global": "non-public"}


class DestinationRefused(ConnectorConfigError):
    """A webhook's destination Lup must not reach. The message names why, never the URL (which
    may carry a token in its path or query)."""

    code = "webhook_destination_refused"


@dataclass(frozen=True)
class Destination:
    """A URL taken apart: what `PinnedConnection` needs, and the addresses it may connect to."""

    scheme: str
    host: str  # as the name is sent in SNI and `Host` (IDNA-encoded)
    port: int
    target: str  # the path and query, as sent in the request line
    addresses: tuple[str, ...] = ()


def parsed(url: str) -> Destination:
    """The URL's parts, refused unless https (or http in embedded mode) with a host and no
    credentials. Resolves nothing."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise ConnectorConfigError(
            "url is not a valid http(s) URL.", fields={"url": "invalid"}
        ) from None
    allowed = {"https", "http"} if settings.EMBEDDED else {"https"}
    if parts.scheme not in allowed:
        raise DestinationRefused(
            "A webhook's url must be https:// (http:// only in embedded mode).",
            fields={"url": "https_required"},
        )
    if not host:
        raise ConnectorConfigError("url names no host.", fields={"url": "no host"})
    if parts.username is not None or parts.password is not None:
        raise ConnectorConfigError(
            "url must not carry credentials; the request is signed with secret_env's key.",
            fields={"url": "credentials"},
        )
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Destination(
        scheme=parts.scheme, host=host, port=port or DEFAULT_PORTS[parts.scheme], target=target
    )


def refusal(address: Address) -> str | None:
    """Why `address` may not be reached (a stable reason), or None when it may."""
    if any(address in network for network in _allowed_networks()):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or address.sixtofour
        if carried is not None:
            return refusal(carried)
    for reason in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{reason}"):
            return reason
    return None if address.is_global else "not_global"


def check_address(address: Address) -> None:
    reason = refusal(address)
    if reason is not None:
        shown = SHOWN.get(reason, reason.replace("_", "-"))
        raise DestinationRefused(
            f"The webhook's host resolves to a {shown} address, which Lup does not send to "
            "(LUP_WEBHOOK_ALLOW_NETWORKS lists networks allowed anyway).",
            fields={"url": reason},
        )


def check_registered(url: str) -> None:
    """The check when a target is registered: the URL's form, then every address the host
    resolves to now. A name that does not resolve (yet) passes: the send checks again."""
    destination = parsed(url)
    try:
        addresses = _lookup(destination)
    except OSError:
        return
    for address in addresses:
        check_address(address)


def resolved(url: str) -> Destination:
    """The destination with the addresses to connect to: the host looked up once and every
    address checked. A name that does not resolve is `TargetUnavailable` (tried again)."""
    destination = parsed(url)
    try:
        addresses = _lookup(destination)
    except OSError:
        raise TargetUnavailable("The webhook's host name did not resolve.") from None
    for address in addresses:
        check_address(address)
    return Destination(
        scheme=destination.scheme,
        host=destination.host,
        port=destination.port,
        target=destination.target,
        addresses=tuple(str(address) for address in addresses),
    )


def _lookup(destination: Destination) -> list[Address]:
    found = socket.getaddrinfo(
        destination.host, destination.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    addresses: list[Address] = []
    for *_, sockaddr in found:
        # A scoped IPv6 address comes back as "fe80::1%eth0": the scope is no part of the check.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OSError("no address")
    return addresses


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(net, strict=False) for net in settings.LUP_WEBHOOK_ALLOW_NETWORKS]


def tls_context() -> ssl.SSLContext:
    """The TLS settings of every webhook call: the system's trust store, the host's name checked.
    A function so that tests can trust their own certificate authority."""
    return ssl.create_default_context()


class PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to a `resolved` destination's checked addresses only, tried in
    order. The name is never looked up again; TLS and `Host` still carry it. No proxy is used:
    a proxy would resolve the name itself, after the check."""

    def __init__(self, destination: Destination, *, timeout: float):
        super().__init__(destination.host, destination.port, timeout=timeout)
        self.destination = destination

    def connect(self) -> None:
        failure: OSError = OSError("no address")
        for address in self.destination.addresses:
            try:
                sock = socket.create_connection((address, self.port), self.timeout)
                break
            except OSError as exc:
                failure = exc
        else:
            raise failure
        if self.destination.scheme == "https":
            try:
                sock = tls_context().wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock
