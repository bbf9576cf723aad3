"""Webhook rules without Ray: where deliveries may go, the per-key secrets, and which
deliveries the board keeps for a job's events."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from novagenia.jobs.board import JobBoard
from novagenia.jobs.protocol import ProgressReport
from novagenia.jobs.schemas import GenerationRequest, Webhook
from novagenia.jobs.store import JobStore
from novagenia.jobs.webhook_policy import WebhookPolicy, WebhookRefused
from novagenia.jobs.webhooks import signing_secret

OPEN = WebhookPolicy.of([], [])


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x",
        "hooks.example.com/x",
        "https://user:pw@hooks.example.com/x",
        "http://127.0.0.1:8000/hook",
        "http://127.1/hook",
        "http://2130706433/hook",
        "http://0x7f.1/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",  # the cloud metadata address
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
        "http://hooks.example.com:99999/x",
        "http://[::1",
        "http://hooks.example.com\t/x",
        "http://hooks.example.com/\x00",
        "http://localhost./hook",
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "http://faß.example/hook",  # IDNA: one spelling for check and resolver
    ],
)
def test_refused_urls(url):
    with pytest.raises(WebhookRefused):
        OPEN.check_url(url)


def test_public_hosts_pass_and_the_allowlist_narrows_them():
    assert OPEN.check_url("https://hooks.example.com/x") == ("hooks.example.com", 443)
    assert OPEN.check_url("http://93.184.216.34:8080/x") == ("93.184.216.34", 8080)
    listed = WebhookPolicy.of(["hooks.example.com", "*.acme.dev"], [])
    listed.check_url("https://hooks.example.com/x")
    listed.check_url("https://eu.acme.dev/x")
    for url in ("https://other.example.com/x", "https://acme.dev.evil.com/x"):
        with pytest.raises(WebhookRefused, match="allowlist"):
            listed.check_url(url)


def test_configured_private_networks_pass():
    inside = WebhookPolicy.of([], ["127.0.0.0/8"])
    inside.check_url("http://127.0.0.1:8000/hook")
    assert inside.resolve("http://127.0.0.1:8000/hook").address == "127.0.0.1"
    with pytest.raises(WebhookRefused):
        inside.check_url("http://10.0.0.1/hook")


def test_names_are_checked_where_they_point():
    """This machine's own name passes the URL check and resolves inside its network."""
    name = socket.gethostname()
    address = socket.getaddrinfo(name, 80)[0][4][0]
    if ipaddress.ip_address(address).is_global:
        pytest.skip(f"{name} resolves to a public address here ({address})")
    OPEN.check_url(f"http://{name}:8000/hook")
    with pytest.raises(WebhookRefused, match="loopback, private"):
        OPEN.resolve(f"http://{name}:8000/hook")


def test_each_api_key_has_its_own_secret():
    master = b"m" * 32
    alpha = signing_secret(master, "key-aaaa")
    assert alpha.startswith("whsec_") and alpha == signing_secret(master, "key-aaaa")
    assert alpha != signing_secret(master, "key-bbbb")
    assert alpha != signing_secret(b"n" * 32, "key-aaaa")


def test_the_board_keeps_deliveries_for_the_events_asked_and_throttles_progress(tmp_path):
    board = JobBoard(JobStore(tmp_path / "jobs.sqlite3"))
    added = []
    board.on_delivery = lambda: added.append(1)
    hook = Webhook(url="https://hooks.example.com/x", events=["started", "progress", "completed"])
    request = GenerationRequest(prompt="p", model="m", width=64, height=64, seed=1)
    board.submit("a", request.model_copy(update={"webhook": hook}), None, "key-aaaa")
    board.submit("b", request, None)  # no webhook
    board.claim("m", "w", max_jobs=2)
    for step in (1, 2, 3):  # within half a second: one progress delivery
        report = ProgressReport(job_ids=["a", "b"], ts=0, step=step, total_steps=3, elapsed_s=0)
        board.report("w", [report])
    board.succeed("a", "w", [])
    board.succeed("b", "w", [])
    assert [d.type for d in board.deliveries("a")] == [
        "job.started",
        "job.progress",
        "job.completed",
    ]
    assert board.deliveries("b") == [] and len(added) == 3
    assert {d.status for d in board.deliveries("a")} == {"pending"}
