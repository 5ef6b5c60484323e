"""The URL ingest guard (vcval.ingest.netguard): no fetch of loopback/private/link-local/... addresses.

Real traffic goes only to HTTP servers on loopback (which must receive no request when the
guard refuses); private ranges are tested with a mocked resolver and never contacted.
"""
from __future__ import annotations

import http.server
import ipaddress
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from vcval.errors import InvalidInputError
from vcval.ingest import netguard
from vcval.ingest.download import download
from vcval.ingest.netguard import BlockedAddressError, blocked_reason, check_url, guarded, literal_address

NO_RETRY = {"extractor_retries": 0, "retries": 0, "socket_timeout": 5}


class _Server:
    """A loopback HTTP server that counts requests; ``redirect`` makes every GET a 302 there."""

    def __init__(self, host: str = "127.0.0.1", redirect: str | None = None) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append(self.path)
                if redirect:
                    self.send_response(302)
                    self.send_header("Location", redirect)
                    self.end_headers()
                    return
                body = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _no_env_opt_in(monkeypatch):
    monkeypatch.delenv(netguard.ALLOW_PRIVATE_ENV, raising=False)


LOOPBACK_SPELLINGS = ["http://127.0.0.1:{port}/video.mp4", "http://localhost:{port}/video.mp4",
                      "http://0x7f000001:{port}/video.mp4", "http://2130706433:{port}/video.mp4",
                      "http://127.1:{port}/video.mp4", "http://0177.0.0.1:{port}/video.mp4",
                      "HTTP://127.0.0.1:{port}/video.mp4", "http://[::ffff:127.0.0.1]:{port}/video.mp4",
                      "http://user:pw@127.0.0.1:{port}/video.mp4", "https://127.0.0.1:{port}/video.mp4"]


@pytest.mark.parametrize("template", LOOPBACK_SPELLINGS)
def test_loopback_urls_are_refused_before_any_request(server, template, tmp_path):
    url = template.format(port=server.port)
    with pytest.raises(InvalidInputError, match="refusing to fetch .*loopback.*VCVAL_ALLOW_PRIVATE_URLS"):
        download(url, tmp_path, ydl_opts=NO_RETRY)
    assert server.requests == []


def test_ipv6_loopback_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="loopback"):
        download("http://[::1]:9/video.mp4", tmp_path)


def test_opt_in_fetches_from_loopback(server, tmp_path, monkeypatch):
    """The opt-in really lets the request through (so the refusals above are the guard's doing)."""
    url = f"http://127.0.0.1:{server.port}/video.mp4"
    res = download(url, tmp_path, ydl_opts=NO_RETRY, allow_private=True)
    assert res.video_path.is_file() and server.requests
    server.requests.clear()
    monkeypatch.setenv(netguard.ALLOW_PRIVATE_ENV, "1")
    assert check_url(url) == url


def test_redirect_to_loopback_is_refused_at_connect_time(monkeypatch, tmp_path):
    """A 'public' server (127.0.0.2, declared public for this test) redirects to 127.0.0.1: the
    first hop is fetched, the redirect target receives nothing."""
    target = _Server("127.0.0.1")
    front = _Server("127.0.0.2", redirect=f"http://127.0.0.1:{target.port}/video.mp4")
    real = netguard.blocked_reason
    monkeypatch.setattr(netguard, "blocked_reason",
                        lambda ip: None if str(ip) == "127.0.0.2" else real(ip))
    try:
        with pytest.raises(InvalidInputError, match="refusing to connect to 127.0.0.1.*loopback"):
            download(f"http://127.0.0.2:{front.port}/watch", tmp_path, ydl_opts=NO_RETRY)
        assert front.requests == ["/watch"]
        assert target.requests == []
    finally:
        front.close()
        target.close()


def test_dns_rebinding_is_caught_at_connect_time(server, monkeypatch, tmp_path):
    """The name resolves to a public address for the check, then to loopback for the connection."""
    answers = iter([("93.184.216.34",), ("127.0.0.1",), ("127.0.0.1",), ("127.0.0.1",)])
    real_getaddrinfo = socket.getaddrinfo

    def fake_getaddrinfo(host, port, *args, **kw):
        if host != "rebind.test":
            return real_getaddrinfo(host, port, *args, **kw)
        ip = next(answers)[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(InvalidInputError, match="refusing to connect to 127.0.0.1"):
        download(f"http://rebind.test:{server.port}/video.mp4", tmp_path, ydl_opts=NO_RETRY)
    assert server.requests == []


PRIVATE = ["10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "127.8.8.8", "0.0.0.0",
           "224.0.0.251", "239.255.255.250", "240.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.0.8",
           "::1", "::", "fd00::1", "fc00::5", "fe80::1", "fec0::1", "ff02::1", "::ffff:10.0.0.1",
           "::ffff:169.254.169.254", "2002:7f00:1::", "2002:a9fe:a9fe::1", "64:ff9b::a9fe:a9fe",
           "64:ff9b::7f00:1", "64:ff9b:1::1", "2001:db8::1", "100::1"]


@pytest.mark.parametrize("ip", PRIVATE)
def test_private_ranges_via_mocked_resolver(ip, monkeypatch):
    calls = []

    def fake_getaddrinfo(host, port, *args, **kw):
        calls.append(host)
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return [(fam, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert blocked_reason(ipaddress.ip_address(ip)) is not None
    with pytest.raises(InvalidInputError, match="refusing to fetch"):
        check_url("https://internal.example.com/video")
    assert calls == ["internal.example.com"]


def test_one_private_answer_among_public_ones_is_refused(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))])
    with pytest.raises(InvalidInputError, match="private"):
        check_url("https://mixed.example.com/")


@pytest.mark.parametrize("ip", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34",
                                "2002:5db8:d822::1"])
def test_public_addresses_pass_the_check(ip, monkeypatch):
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [(fam, socket.SOCK_STREAM, 6, "", (ip, port))])
    assert blocked_reason(ipaddress.ip_address(ip)) is None
    assert check_url("HTTPS://www.example.com/watch?v=1 ") == "HTTPS://www.example.com/watch?v=1"


@pytest.mark.parametrize("host,expected", [("0x7f000001", "127.0.0.1"), ("2130706433", "127.0.0.1"),
                                           ("127.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
                                           ("[::1]", "::1"), ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
                                           ("example.com", None), ("cafe", None), ("deadbeef.com", None)])
def test_literal_address_spellings(host, expected):
    got = literal_address(host)
    assert (None if got is None else str(got)) == expected


@pytest.mark.parametrize("url", ["ftp://example.com/v.mp4", "file:///etc/passwd", "javascript:alert(1)",
                                 "gopher://127.0.0.1/", "http://", "http://[::1", 42, None])
def test_non_http_urls_are_refused(url):
    with pytest.raises(InvalidInputError):
        check_url(url)


def test_guard_blocks_raw_sockets_and_url_subprocesses_only_inside_the_block(server):
    with guarded(allow_private=False):
        with pytest.raises(BlockedAddressError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with pytest.raises(BlockedAddressError):
            subprocess.run(["echo", "http://127.0.0.1/"], check=False)
        subprocess.run([sys.executable, "-c", "pass"], check=True)  # no URL: allowed
    assert server.requests == []
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):  # outside: untouched
        pass


def test_guard_is_per_thread(server):
    errors: list[BaseException] = []

    def other() -> None:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        except BaseException as e:  # pragma: no cover - the test fails on it
            errors.append(e)

    with guarded(allow_private=False):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert errors == []


def test_corpus_add_url_and_cli_use_the_guard(server, tmp_path, capsys):
    from vcval.cli import main
    from vcval.corpus import Corpus

    corpus = Corpus.open(tmp_path / "c")
    with pytest.raises(InvalidInputError, match="loopback"):
        corpus.add_url(f"HTTP://localhost:{server.port}/video.mp4")
    assert main(["ingest", f"http://0x7f000001:{server.port}/v.mp4", "--corpus", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "refusing to fetch" in err and "--allow-private-urls" in err and "Traceback" not in err
    assert server.requests == [] and len(corpus) == 0
