"""The client's address, believing `X-Forwarded-For` only from the proxies we run.

A proxy appends the address it was reached from to `X-Forwarded-For`; anything to the left of
that came from the client and may be invented. So the header is read only when the connection's
peer is one of `LUP_TRUSTED_PROXIES`, and then from the right: the first address that is not a
trusted proxy is the client. From any other peer the header is ignored and the peer is the
client. Parsing (ports, brackets, IPv6, IPv4-mapped addresses, RFC 7239 `for=`) is
python-ipware's, the library django-ipware is built on; the trust walk is ours, because
ipware's trusted-proxy lists describe the chain and never check the peer itself.
"""

import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest
from python_ipware.modern.parsers import parse_ip, split_proxy_chain

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """LUP_TRUSTED_PROXIES as networks; ValueError names a bad entry."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def _trusted(address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address_of(meta: dict, networks: tuple[Network, ...]) -> str:
    peer = parse_ip(meta.get("REMOTE_ADDR"))
    if peer is None:
        return meta.get("REMOTE_ADDR", "") or ""
    if not networks or not _trusted(peer, networks):
        return str(peer)
    # Strict: a malformed entry makes the whole header untrustworthy, and the peer answers.
    chain = split_proxy_chain(meta.get("HTTP_X_FORWARDED_FOR"), strict=True)
    if not chain:
        return str(peer)
    for hop in reversed(chain):
        if not _trusted(hop, networks):
            return str(hop)
    return str(chain[0])  # every hop is one of ours: the request began inside


def client_address(request: HttpRequest) -> str:
    """The client's address as `ClientAddressMiddleware` found it (or finds it now)."""
    found = getattr(request, "client_address", None)
    if found is None:
        found = client_address_of(request.META, settings.LUP_TRUSTED_NETWORKS)
    return found


class ClientAddressMiddleware:
    """Sets `request.client_address` once, for rate limits, the staff audit and lock-outs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        request.client_address = client_address_of(request.META, settings.LUP_TRUSTED_NETWORKS)
        return self.get_response(request)
