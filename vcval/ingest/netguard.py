"""The URL ingest guard: vcval fetches only public http(s) addresses (no SSRF).

Every URL entry point (``vcval ingest URL``, ``Corpus.add_url``, the app's ``/add_url``) goes
through :func:`vcval.ingest.download.download`, which

1. checks the URL with :func:`check_url`: http/https in any case, a host, and every address
   the host resolves to (or that an odd spelling such as ``0x7f000001`` / ``2130706433``
   denotes) must be public;
2. runs yt-dlp inside :func:`guarded`: a Python audit hook (:pep:`578`) sees every
   ``socket.connect`` of that thread -- the page, each redirect, manifests, media fragments,
   captions, thumbnails -- with the IP address actually being connected to, and refuses a
   non-public one before a byte is sent (so a DNS answer that changes between the check and
   the connection cannot get through); it also refuses to start a subprocess (ffmpeg as an
   external downloader) whose arguments hold a URL.

Refused: loopback, private (RFC 1918, IPv6 unique-local), link-local (169.254/16: cloud
metadata), CGNAT 100.64/10, multicast, reserved, unspecified, and the IPv6 forms that embed an
IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``,
Teredo) when the embedded address is refused. Trusted local use opts out with
``VCVAL_ALLOW_PRIVATE_URLS=1`` or ``vcval ingest --allow-private-urls``.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from vcval.errors import InvalidInputError, NetworkError

logger = logging.getLogger(__name__)

ALLOW_PRIVATE_ENV = "VCVAL_ALLOW_PRIVATE_URLS"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# special-purpose IPv4 blocks some Python versions call global (IETF protocol assignments, benchmarking)
_SPECIAL_V4 = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("198.18.0.0/15"),
               ipaddress.ip_network("0.0.0.0/8"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_URL_ARG = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_OPT_IN_HINT = (f"set {ALLOW_PRIVATE_ENV}=1 or pass `vcval ingest --allow-private-urls` to allow it "
                "for trusted local use")


class BlockedAddressError(OSError):
    """A connection to a non-public address was refused by the guard (raised inside yt-dlp)."""


def allow_private_default() -> bool:
    """True when ``$VCVAL_ALLOW_PRIVATE_URLS`` is set to 1/true/yes."""
    return os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be fetched from ("loopback", "private", ...), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # the connection goes to the IPv4 address itself
            why = blocked_reason(ip.ipv4_mapped)
            return None if why is None else f"{why} (IPv4-mapped {ip})"
        embedded = [ ip.sixtofour, ip.teredo[1] if ip.teredo else None,
                    ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None]
        for v4 in embedded:
            if v4 is not None and (why := blocked_reason(v4)) is not None:
                return f"{why} (embedded in {ip})"
        # then the IPv6 address itself; a 6to4/NAT64 address of a public host passes only if Python deems it global
    checks = (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
              ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
              ("carrier-grade NAT", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
              ("private", ip.is_private), ("reserved", ip.is_reserved),
              ("special-purpose", isinstance(ip, ipaddress.IPv4Address) and any(ip in n for n in _SPECIAL_V4)),
              ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
              ("non-global", not ip.is_global))
    return next((name for name, hit in checks if hit), None)


def literal_address(host: str) -> IPAddress | None:
    """The address a host string denotes without DNS: ``127.0.0.1``, ``[::1]``, and the spellings
    ``inet_aton`` accepts (``0x7f000001``, ``2130706433``, ``127.1``, ``0177.0.0.1``); else None."""
    h = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fA-FxX.]+", h) and not re.fullmatch(r"[a-fA-F.]+", h):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h))
        except OSError:
            return None
    return None


def resolve(host: str, port: int | None) -> list[IPAddress]:
    """Every address ``host`` resolves to (NetworkError when it does not resolve)."""
    lit = literal_address(host)
    if lit is not None:
        return [lit]
    try:
        infos = socket.getaddrinfo(host, port or 443, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise NetworkError(f"could not reach {host}: its name does not resolve ({exc}); check the address and "
                           "your internet connection; to add a local file use `vcval ingest FILE`") from exc
    out: list[IPAddress] = []
    for info in infos:
        addr = literal_address(str(info[4][0]))
        if addr is not None and addr not in out:
            out.append(addr)
    return out


def check_url(url: object, *, allow_private: bool | None = None) -> str:
    """Return the stripped ``url`` if it is safe to fetch, else raise InvalidInputError.

    http/https only (any case), with a host; unless ``allow_private`` (None: the environment
    variable), every address the host denotes or resolves to must be public. Sends nothing
    but a DNS query.
    """
    u = url.strip() if isinstance(url, str) else ""
    try:
        parts = urlsplit(u)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise InvalidInputError(f"{url!r} is not a valid web address ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https") or not host:
        hint = f" (did you mean 'https://{u}'?)" if not parts.scheme and re.match(r"^[\w-]+(\.[\w-]+)+/", u) else ""
        raise InvalidInputError(f"{url!r} is not a web address{hint}: only http(s) URLs are accepted; "
                                "to add a local file use `vcval ingest FILE`")
    if allow_private is None:
        allow_private = allow_private_default()
    if allow_private:
        return u
    for ip in resolve(host, port):
        why = blocked_reason(ip)
        if why is not None:
            raise InvalidInputError(f"refusing to fetch {u}: {host} is a {why} address ({ip}), not a public one; "
                                    + _OPT_IN_HINT)
    return u


# --------------------------------------------------------------------------- connect-time guard
_state = threading.local()
_hook_lock = threading.Lock()
_hook_installed = False


def _active() -> bool:
    return getattr(_state, "depth", 0) > 0


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Audit hook: while :func:`guarded` is active in this thread, refuse non-public connects."""
    if event == "socket.connect":
        if not _active():
            return
        address = args[1]
        if not isinstance(address, tuple) or not address or not isinstance(address[0], str):
            return  # AF_UNIX and friends: not a network destination
        ip = literal_address(address[0])
        why = "not an IP address" if ip is None else blocked_reason(ip)
        if why is not None:
            logger.warning("blocked a connection to %s (%s)", address[0], why)
            raise BlockedAddressError(f"refusing to connect to {address[0]}: a {why} address, not a public one "
                                      f"(a redirect or a media URL pointed there); {_OPT_IN_HINT}")
    elif event == "subprocess.Popen" and _active():
        argv = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
        if any(isinstance(a, (str, bytes)) and _URL_ARG.match(os.fsdecode(a)) for a in argv):
            raise BlockedAddressError("refusing to let an external program download a URL during a guarded "
                                      "download; only vcval's own checked connections may fetch")


def _install_hook() -> None:
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True


@contextlib.contextmanager
def guarded(*, allow_private: bool | None = None) -> Iterator[None]:
    """Inside this block, this thread connects only to public addresses (unless ``allow_private``)."""
    if allow_private is None:
        allow_private = allow_private_default()
    if allow_private:
        yield
        return
    _install_hook()
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


def find_blocked(causes: list[BaseException]) -> str | None:
    """The guard's refusal message among an error and its causes (``download._causes``), or None."""
    for e in causes:
        if isinstance(e, BlockedAddressError):
            return str(e)
    for e in causes:  # yt-dlp sometimes keeps only the message
        m = re.search(r"refusing to (?:connect to|let an external program).*", str(e))
        if m:
            return m.group(0)
    return None
