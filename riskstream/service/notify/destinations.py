"""Where webhooks may be sent: http(s) only, and never to the service's own networks
unless the operator allows it (server-side request forgery).

A risk admin types a URL; the service then sends to it from inside the operator's
network. So a URL is refused unless its scheme is http or https, it names a host, and
every address the host resolves to is public (not loopback, private, link-local,
multicast, reserved or unspecified), or lies in one of the operator's allowed
destinations (``webhook_allowed_destinations``: networks such as ``10.1.2.0/24`` or host
names). When that list is set, only its destinations are allowed at all. The check runs
when an endpoint is saved and again before every attempt, since DNS answers change.
"""

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from riskstream.service.notify.errors import DestinationRefusedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_URL_CHARS = 2000
Resolver = Callable[[str, int], list[IPAddress]]


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (blocking; run it in a thread)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


def split_url(url: str) -> tuple[str, int]:
    """(host, port) of a webhook URL; `DestinationRefusedError` for one that is not
    an absolute http(s) URL with a host."""
    if len(url) > MAX_URL_CHARS:
        raise DestinationRefusedError(url, f"longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefusedError(url, f"not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise DestinationRefusedError(url, "only http:// and https:// URLs are allowed")
    if not parts.hostname:
        raise DestinationRefusedError(url, "it names no host")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefusedError(url, "credentials in the URL are not allowed")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class DestinationPolicy:
    """The operator's rule for webhook destinations."""

    allowed: Sequence[str] = ()
    resolver: Resolver = field(default=resolve, compare=False)

    @property
    def networks(self) -> list[IPNetwork]:
        nets = []
        for entry in self.allowed:
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue  # a host name
        return nets

    @property
    def host_names(self) -> set[str]:
        names = set()
        for entry in self.allowed:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                names.add(entry.lower().rstrip("."))
        return names

    def check(self, url: str) -> None:
        """Raise `DestinationRefusedError` unless ``url`` may be sent to now (resolves
        the host: blocking)."""
        host, port = split_url(url)
        named = host.lower().rstrip(".") in self.host_names
        try:
            addresses = self.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise DestinationRefusedError(url, f"host {host!r} does not resolve ({exc})") from None
        if not addresses:
            raise DestinationRefusedError(url, f"host {host!r} has no address")
        networks = self.networks
        for address in addresses:
            listed = any(address in net for net in networks)
            if self.allowed and not (listed or named):
                raise DestinationRefusedError(
                    url, f"{address} is not among webhook_allowed_destinations"
                )
            if not _is_public(address) and not listed:
                raise DestinationRefusedError(
                    url,
                    f"{host} resolves to {address}, a loopback, private or reserved address; "
                    "an operator may allow its network in webhook_allowed_destinations",
                )
