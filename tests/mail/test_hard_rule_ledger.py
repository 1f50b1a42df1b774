"""The suite-wide hard-rule ledger (tests/hard_rule.py) can fail: small pytest sessions, run in
their own processes with this suite's conftest, break the rule in each way it watches for, and
must fail — test by test, and as a whole run even when the breach comes after the last test."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

COMMON = '''
import base64, smtplib, threading, time

import pytest
from googleapiclient.errors import HttpError

from appsrc.gmail.credentials import SCOPE_COMPOSE, DelegatedCredentials
from appsrc.gmail.client import GmailRemotes
from appsrc.clock import SystemClock
from appsrc.crm.users import add_user
from appsrc.simulator import GmailSimulator
from tests.mail.servers import SmtpServer

ADMIN, INVESTOR = "ada@fund.example", "jane@acme.example"


def raw(to):
    text = f"From: {ADMIN}\\r\\nTo: {to}\\r\\nSubject: Hello\\r\\n\\r\\nHello.\\r\\n"
    return base64.urlsafe_b64encode(text.encode()).decode()


def gmail_for(simulator, key_path):
    """The real google-api-python-client, delegated as the admin, against the simulator."""
    simulator.add_mailbox(ADMIN)
    simulator.make_service_account_key(str(key_path))
    clock = SystemClock()
    remotes = GmailRemotes(DelegatedCredentials(key_path, clock), simulator.url, clock)
    return remotes.remote(ADMIN, (SCOPE_COMPOSE,)).service()


@pytest.fixture
def admin(db, clock):
    add_user(ADMIN, "Ada Admin", clock.now(), is_admin=True)


@pytest.fixture
def gmail(sim, tmp_path, admin):
    return gmail_for(sim, tmp_path / "key.json")


def smtp_send(server, to):
    with smtplib.SMTP(server.host, server.port) as client:
        client.sendmail(ADMIN, [to], b"Subject: Hello\\r\\n\\r\\nHello.\\r\\n")
'''

EACH_BREACH = (
    COMMON
    + """
LATE = []


def test_drafting_and_mailing_the_admins_is_fine(gmail):
    gmail.users().messages().send(userId="me", body={"raw": raw(ADMIN)}).execute()
    gmail.users().drafts().create(userId="me", body={"message": {"raw": raw(INVESTOR)}}).execute()


def test_send_to_an_investor(gmail):
    gmail.users().messages().send(userId="me", body={"raw": raw(INVESTOR)}).execute()


def test_drafts_send_then_clear_calls(gmail, sim):
    with pytest.raises(HttpError):
        gmail.users().drafts().send(userId="me", body={"id": "r1"}).execute()
    sim.clear_calls()
    assert sim.calls() == []


def test_drafts_update(gmail):
    with pytest.raises(HttpError):
        gmail.users().drafts().update(userId="me", id="r1", body={"message": {"raw": raw(INVESTOR)}}).execute()


def test_smtp_server_that_rejects_the_mail(tls, admin):
    server = SmtpServer(tls, security="none", mode="reject").start()
    try:
        with pytest.raises(smtplib.SMTPDataError):
            smtp_send(server, INVESTOR)
    finally:
        server.stop()


def test_leaves_a_send_behind(tls, admin):
    server = SmtpServer(tls, security="none").start()

    def later():
        time.sleep(0.5)
        smtp_send(server, INVESTOR)
        server.stop()

    LATE.append(threading.Thread(target=later))
    LATE[0].start()


def test_runs_while_the_late_send_lands(admin):
    LATE[0].join()
"""
)

AFTER_THE_LAST_TEST = (
    COMMON
    + '''
@pytest.fixture(scope="session")
def parting_send(tmp_path_factory):
    """A session fixture whose teardown sends to an investor: after every test has passed."""
    simulator = GmailSimulator().start()
    gmail = gmail_for(simulator, tmp_path_factory.mktemp("key") / "key.json")
    yield
    gmail.users().messages().send(userId="me", body={"raw": raw(INVESTOR)}).execute()
    simulator.stop()


def test_passes(parting_send, admin):
    pass
'''
)


@pytest.fixture
def inner(pytester, monkeypatch):
    """A pytest session in a fresh process, with this suite's conftest and `tests` importable."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest("from tests.conftest import *  # noqa: F401,F403\n")
    return pytester


def test_each_breach_fails_its_test_and_the_run(inner):
    inner.makepyfile(test_inner=EACH_BREACH)
    result = inner.runpytest_subprocess("-p", "no:xdist", "-v")  # the xdist-only hook is optional
    result.assert_outcomes(passed=7, errors=5)
    for test in (
        "send_to_an_investor",
        "drafts_send_then_clear_calls",
        "drafts_update",
        "smtp_server_that_rejects_the_mail",
        "runs_while_the_late_send_lands",
    ):
        result.stdout.fnmatch_lines([f"*test_{test} ERROR*"])
    result.stdout.fnmatch_lines(
        [
            "*test_drafting_and_mailing_the_admins_is_fine PASSED*",
            "*test_leaves_a_send_behind PASSED*",
            "hard rule: * 5 HARD RULE VIOLATION(S): the run fails",
            "HARD RULE VIOLATION: *test_send_to_an_investor: Gmail sent as ada@fund.example to non-admins "
            "*jane@acme.example*",
            "HARD RULE VIOLATION: *test_drafts_send_then_clear_calls: a Gmail mail operation other than "
            "drafts.create: users.drafts.send x1*",
            "HARD RULE VIOLATION: *test_drafts_update: * users.drafts.update x1*405*",
            "HARD RULE VIOLATION: *test_smtp_server_that_rejects_the_mail: SMTP server * non-admin jane@acme.example",
            "HARD RULE VIOLATION: *test_runs_while_the_late_send_lands: SMTP server * non-admin jane@acme.example",
        ]
    )
    result.stdout.no_fnmatch_line("*all to active admins*")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("workers", [["-p", "no:xdist"], ["-n", "1"]], ids=["no-xdist", "xdist-worker"])
def test_a_breach_after_the_last_test_still_fails_the_run(inner, workers):
    inner.makepyfile(test_inner=AFTER_THE_LAST_TEST)
    result = inner.runpytest_subprocess(*workers)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "hard rule: 1 Gmail simulator(s) audited; 1 send(s) to 1 recipient(s); 0 drafts.create; "
            "1 HARD RULE VIOLATION(S): the run fails",
            "HARD RULE VIOLATION: after *test_passes: Gmail sent as ada@fund.example to non-admins *jane@acme.example*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
