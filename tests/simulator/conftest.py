"""Fixtures that drive the simulator through the real Google client libraries over HTTP."""

from __future__ import annotations

import time

import google.auth.transport.requests
import pytest
from google.oauth2 import service_account
from googleapiclient.discovery import build

from appsrc.simulator import GMAIL_COMPOSE, GMAIL_READONLY, GmailSimulator

ALICE = "alice@fund.example"
BOB = "bob@fund.example"


class FakeClock:
    """Starts at real time (google-auth stamps JWTs with the real clock) and moves on demand."""

    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def plain_message(
    subject: str,
    *,
    sender: str = "Jane Doe <jane@acmecapital.example>",
    to: str = ALICE,
    message_id: str | None = None,
    extra: str = "",
    body: str = "Hello there.",
) -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", "Date: Mon, 23 Nov 2026 10:00:00 +0000"]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n" + body + "\r\n").encode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock):
    simulator = GmailSimulator(clock=clock)
    simulator.add_mailbox(ALICE)
    simulator.add_mailbox(BOB)
    with simulator:
        yield simulator


@pytest.fixture(scope="session")
def key_template(tmp_path_factory):
    """One generated RSA key for the whole run; key generation costs up to 0.2 s."""
    path = tmp_path_factory.mktemp("keys") / "template.json"
    GmailSimulator().make_service_account_key(path)
    return path.read_text()


@pytest.fixture
def key_file(sim, tmp_path, key_template):
    """A key file registered with this test's simulator (token_uri rewritten to it)."""
    path = tmp_path / "service-account.json"
    path.write_text(key_template)
    sim.register_key_file(path)
    return path


def credentials_for(key_file, user: str, scopes=(GMAIL_READONLY, GMAIL_COMPOSE)):
    creds = service_account.Credentials.from_service_account_file(str(key_file), scopes=list(scopes))
    return creds.with_subject(user)


def refresh(creds):
    creds.refresh(google.auth.transport.requests.Request())
    return creds


@pytest.fixture
def gmail(sim, key_file):
    """gmail(user, scopes=...) -> a googleapiclient Gmail service pointed at the simulator.

    The key file is parsed once per test (PEM parsing costs ~50 ms); each service still
    gets its own credentials and therefore its own token.
    """
    base = service_account.Credentials.from_service_account_file(str(key_file))

    def make(user: str = ALICE, scopes=(GMAIL_READONLY, GMAIL_COMPOSE)):
        creds = base.with_scopes(list(scopes)).with_subject(user)
        return build("gmail", "v1", credentials=creds, static_discovery=True, client_options={"api_endpoint": sim.url})

    return make
