"""Where webhook deliveries may go (no server-side request forgery through a job's
webhook URL): http(s) only, no credentials, the allowlisted hosts when one is set, and
never an address inside the server's networks (loopback, private, link-local, cloud
metadata, reserved; in every spelling, IPv4 inside IPv6 too) unless
`webhook_private_networks` allows it. Checked at submit, and again on the resolved
addresses before each try, which then connects to the address it checked."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class WebhookRefused(ValueError):
    """A webhook URL the server will not call."""


class WebhookUnresolved(OSError):
    """The webhook's host does not resolve now (may be passing: tried again later)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its host and port, and the address to connect to."""

    host: str
    port: int
    address: str


@dataclass(frozen=True)
class WebhookPolicy:
    hosts: tuple[str, ...] = ()
    private_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def of(cls, hosts: Sequence[str], private_networks: Sequence[str]) -> WebhookPolicy:
        return cls(
            tuple(host.lower() for host in hosts),
            tuple(ipaddress.ip_network(net, strict=False) for net in private_networks),
        )

    def check_url(self, url: str) -> tuple[str, int]:
        """The URL's host and port, once its form, host and (literal) address pass."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:
            raise WebhookRefused("the webhook URL is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not host:
            raise WebhookRefused("the webhook URL must be http:// or https:// with a host")
        if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
            raise WebhookRefused("the webhook URL must not contain spaces or control characters")
        if parts.username or parts.password:
            raise WebhookRefused("the webhook URL must not carry credentials")
        if not host.isascii():  # one spelling for the check, the resolver and the Host
            raise WebhookRefused("write a non-ASCII webhook host in its xn-- (IDNA) form")
        host = host.lower().rstrip(".")
        if self.hosts and not any(_host_matches(host, allowed) for allowed in self.hosts):
            raise WebhookRefused(f"webhook host {host!r} is not in the server's allowlist")
        if host == "localhost" or host.endswith(".localhost"):
            self.check_address(ipaddress.ip_address("127.0.0.1"))
        elif (literal := _literal_address(host)) is not None:
            self.check_address(literal)
        return host, port or (443 if parts.scheme == "https" else 80)

    def check_address(self, ip: Address) -> None:
        if any(ip in network for network in self.private_networks):
            return
        for form in _forms(ip):
            if not form.is_global or form.is_multicast or form.is_reserved:
                raise WebhookRefused(
                    f"webhook address {ip} is loopback, private, link-local or reserved; "
                    "the server calls such addresses only inside `webhook_private_networks`"
                )

    def resolve(self, url: str) -> Target:
        """Checks the URL and every address its host resolves to, just before a try (so
        a name that now points inside the network is caught); the try connects to the
        address checked here, not to a second lookup's."""
        host, port = self.check_url(url)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise WebhookUnresolved(f"webhook host {host!r} does not resolve: {exc}") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        for address in addresses:
            self.check_address(address)
        return Target(host, port, str(addresses[0]))


def _forms(ip: Address) -> list[Address]:
    """The address, and the IPv4 address an IPv6 one carries (mapped, NAT64, 6to4)."""
    forms: list[Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            forms.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            forms.append(ip.sixtofour)
        if ip in NAT64:
            forms.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return forms


def _literal_address(host: str) -> Address | None:
    """The address a host written as one stands for, in every form the resolver reads
    (`127.1`, `2130706433` and `0x7f.1` are 127.0.0.1 too), without asking DNS."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.ip_address(socket.inet_ntoa(socket.inet_aton(host)))
    except (OSError, ValueError, UnicodeError):
        return None


def _host_matches(host: str, allowed: str) -> bool:
    if allowed.startswith("*."):
        return host.endswith(allowed[1:])
    return host == allowed
