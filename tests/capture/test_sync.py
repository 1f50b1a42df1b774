"""Sync end to end: the real Google client libraries over HTTP against the Gmail simulator,
a real SQLite file, and the dataset's ground truth for every copy of every email."""

from __future__ import annotations

from collections import Counter
from datetime import UTC

import pytest

from appsrc.store import capture as capture_store
from appsrc.store import queries
from appsrc.store.db import database, is_sqlite
from appsrc.store.models import (
    ActivityProposal,
    Email,
    EmailAccount,
    EmailAccountMessage,
    EmailInvestorLink,
    Investor,
    SkippedMessage,
)
from appsrc.store.queries import activity as activity_queries
from tests.capture.conftest import make_runtime

STORED = {"capture", "newsletter"}
NOT_LISTED = {"trashed", "spam", "chat"}


@pytest.fixture
def runtime(sim, tmp_path, team):
    """Runtime with the dataset's own domains configured (one is an alias domain)."""
    rt = make_runtime(sim, tmp_path, CRM_OWN_DOMAINS=",".join(team.own_domains))
    yield rt
    rt.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crm_on(request, sim, tmp_path, team):
    """`crm` on each database (PostgreSQL is where two mailboxes' writers really race)."""
    from appsrc.crm.investors import import_investors_csv
    from appsrc.crm.users import add_user

    env = {"CRM_OWN_DOMAINS": ",".join(team.own_domains)}
    if request.param == "postgres":
        env["CRM_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    rt = make_runtime(sim, tmp_path, **env)
    now = rt.clock.now()
    for i, member in enumerate(team.team):
        add_user(member.address, member.name, now, is_admin=i == 0)
    import_investors_csv(team.investors_csv(), now, directory=rt.directory)
    yield rt
    rt.close()


def account(address: str) -> EmailAccount:
    return EmailAccount.get(EmailAccount.address == address)


def sighting_ids(address: str, live_only: bool = False) -> set[str]:
    query = (
        EmailAccountMessage.select(EmailAccountMessage.gmail_id)
        .join(EmailAccount)
        .where(EmailAccount.address == address)
    )
    if live_only:
        query = query.where(EmailAccountMessage.deleted_at.is_null())
    return {g for (g,) in query.tuples()}


def skipped(address: str) -> dict[str, str]:
    return dict(
        SkippedMessage.select(SkippedMessage.gmail_id, SkippedMessage.reason)
        .join(EmailAccount)
        .where(EmailAccount.address == address)
        .tuples()
    )


def assert_store_matches_dataset(team, allow_gone: bool = False) -> None:
    """Every copy is accounted for exactly as the ground truth says; nothing lost, nothing twice.
    `allow_gone`: the run deleted messages on purpose, so counters include those too."""
    for member in team.team:
        copies = team.messages_in(member.address)
        ids = {(m.key): team.gmail_ids[(member.address, m.key)] for m in copies}
        stored, skips = sighting_ids(member.address), skipped(member.address)
        assert not stored & set(skips), "a message is both stored and skipped"
        for m in copies:
            gmail_id = ids[m.key]
            if m.expected in STORED:
                assert gmail_id in stored, (m.expected, m.flags)
            elif m.expected == "internal":
                assert skips.get(gmail_id) == "internal", m.flags
            elif m.expected == "malformed":  # best effort: stored, or skipped with its reason
                assert gmail_id in stored or skips.get(gmail_id) in {"unparseable", "internal"}, m.flags
            else:
                assert m.expected in NOT_LISTED and gmail_id not in stored and gmail_id not in skips
        count = EmailAccountMessage.select().join(EmailAccount).where(EmailAccount.address == member.address).count()
        assert count == len(stored)  # one sighting per (mailbox, Gmail id)
        a = account(member.address)
        assert (a.stored_count, a.skipped_count, a.failed_count) == (len(stored), len(skips), 0)
        if not allow_gone:
            assert "gone" not in skips.values()
    # One Email per real email across mailboxes: each dataset key stored at most once.
    stored_keys = {m.key for m in team.messages if m.expected in STORED}
    assert Email.select().count() >= len(stored_keys)
    per_message_id = Counter(e.message_id for e in Email.select() if e.message_id)
    duplicated = {m.message_id for m in team.with_flag("duplicate_message_id")}
    assert all(n == 1 for mid, n in per_message_id.items() if mid not in duplicated)


def test_full_backfill_captures_every_mailbox_exactly_per_ground_truth(crm, team):
    reports = crm.sync_all()
    assert [r.ok for r in reports] == [True] * len(team.team)
    assert_store_matches_dataset(team)
    for member in team.team:
        a = account(member.address)
        assert a.backfill_state == "done" and a.history_id and a.backfill_page_token is None
    # running it again changes nothing
    before = (Email.select().count(), EmailAccountMessage.select().count(), ActivityProposal.select().count())
    again = crm.sync_all()
    assert sum(r.stored for r in again) == 0
    assert (Email.select().count(), EmailAccountMessage.select().count(), ActivityProposal.select().count()) == before


def test_one_email_in_several_mailboxes_is_one_row_with_one_sighting_each(crm, team):
    crm.sync_all()
    multi = [m for m in team.with_flag("multi_mailbox") if m.expected == "capture" and m.message_id]
    assert multi
    for message_id in {m.message_id for m in multi}:
        copies = [m for m in multi if m.message_id == message_id]
        email = Email.get(Email.message_id == message_id)
        mailboxes = {s.account.address for s in email.sightings}
        assert mailboxes == {m.mailbox for m in copies}


def test_missing_and_duplicated_message_ids_are_never_dropped(crm, team):
    crm.sync_all()
    missing = [m for m in team.with_flag("missing_message_id") if m.expected == "capture"]
    duplicated = [m for m in team.with_flag("duplicate_message_id") if m.expected == "capture"]
    assert missing and duplicated
    for m in missing + duplicated:
        assert team.gmail_ids[(m.mailbox, m.key)] in sighting_ids(m.mailbox)
    # copies of one email without a Message-ID share one row; different emails sharing an id don't
    by_key = {}
    for m in missing:
        gmail_id = team.gmail_ids[(m.mailbox, m.key)]
        row = EmailAccountMessage.get(EmailAccountMessage.gmail_id == gmail_id).email_id
        by_key.setdefault(m.key, set()).add(row)
    assert all(len(rows) == 1 for rows in by_key.values())
    dup_keys = {m.key for m in duplicated}
    dup_rows = {
        EmailAccountMessage.get(EmailAccountMessage.gmail_id == team.gmail_ids[(m.mailbox, m.key)]).email_id
        for m in duplicated
    }
    assert len(dup_rows) == len(dup_keys)


def test_proposals_one_per_email_and_contact_no_bulk_no_graveyard(crm, team):
    crm.sync_all()
    pairs = [(p.email_id, p.target_key) for p in ActivityProposal.select()]
    assert pairs and len(pairs) == len(set(pairs))
    assert not ActivityProposal.select().join(Email).where(Email.is_bulk).exists()
    assert not ActivityProposal.select().join(Investor).where(Investor.graveyard).exists()
    unknown = [m for m in team.with_flag("unknown_sender_at_investor_domain") if m.expected == "capture"]
    assert unknown
    assert ActivityProposal.select().where(ActivityProposal.target_key.startswith("address:")).exists()
    graveyard_mail = [m for m in team.with_flag("graveyard") if m.expected == "capture"]
    assert graveyard_mail and EmailInvestorLink.select().join(Investor).where(Investor.graveyard).exists()


def test_hard_cases_are_decoded(crm, team):
    crm.sync_all()
    for flag in ("rfc2047_utf8_b", "rfc2047_utf8_q", "charset_iso_2022_jp", "charset_shift_jis"):
        m = next(m for m in team.with_flag(flag) if m.expected == "capture")
        email = EmailAccountMessage.get(EmailAccountMessage.gmail_id == team.gmail_ids[(m.mailbox, m.key)]).email
        assert "=?" not in email.subject and "\ufffd" not in email.subject, (flag, email.subject)
    huge = next(m for m in team.with_flag("huge_attachment") if m.expected == "capture")
    email = EmailAccountMessage.get(EmailAccountMessage.gmail_id == team.gmail_ids[(huge.mailbox, huge.key)]).email
    assert email.has_attachments and email.attachments[0]["size"] > 1_000_000
    assert len(email.body_text) <= 20_000


def test_incremental_applies_added_trashed_untrashed_and_deleted(crm, team, sim):
    crm.sync_all()
    alice = team.team[0].address
    live = sorted(sighting_ids(alice, live_only=True))
    trashed, deleted = live[0], live[1]
    sim.trash(alice, trashed)
    sim.delete(alice, deleted)
    new_id = sim.insert_message(
        alice,
        (
            b"From: Jane Roe <"
            + team.investors[0].contacts[0].address.encode()
            + b">\r\nTo: "
            + alice.encode()
            + b"\r\nSubject: New fund docs\r\nMessage-ID: <fresh-1@example.test>\r\n"
            b"Date: Tue, 24 Nov 2026 08:00:00 +0000\r\n\r\nPlease see the new docs.\r\n"
        ),
    )
    report = crm.mailbox_sync.sync(account(alice).id)
    assert report.ok and report.mode == "incremental" and report.stored == 1
    assert new_id in sighting_ids(alice, live_only=True)
    assert trashed not in sighting_ids(alice, live_only=True) and trashed in sighting_ids(alice)
    assert deleted not in sighting_ids(alice, live_only=True)
    sim.untrash(alice, trashed)
    crm.mailbox_sync.sync(account(alice).id)
    assert trashed in sighting_ids(alice, live_only=True)


def test_untrashed_message_never_captured_before_is_fetched_then(crm, team, sim):
    """The dataset's trashed mail is an investor's email to two teammates, one of whom trashed
    it: taken out of the trash, that copy is fetched and stored as a live sighting of the email
    already captured from the other teammate's mailbox."""
    crm.sync_all()
    trashed = next(m for m in team.messages if m.expected == "trashed" and "TRASH" in m.label_ids)
    gmail_id = team.gmail_ids[(trashed.mailbox, trashed.key)]
    assert gmail_id not in sighting_ids(trashed.mailbox) and gmail_id not in skipped(trashed.mailbox)
    emails = Email.select().count()
    sim.untrash(trashed.mailbox, gmail_id)
    report = crm.mailbox_sync.sync(account(trashed.mailbox).id)
    assert report.ok
    assert gmail_id in sighting_ids(trashed.mailbox, live_only=True) and gmail_id not in skipped(trashed.mailbox)
    assert Email.select().count() == emails  # one email, now seen in both mailboxes


def test_expired_history_triggers_a_full_resync_that_duplicates_nothing(crm, team, sim):
    crm.sync_all()
    alice = team.team[0].address
    before = (Email.select().count(), len(sighting_ids(alice)))
    gone = sorted(sighting_ids(alice, live_only=True))[0]
    sim.delete(alice, gone)
    sim.expire_history(alice)
    report = crm.mailbox_sync.sync(account(alice).id)
    assert report.ok and report.mode == "resync"
    assert (Email.select().count(), len(sighting_ids(alice))) == before
    assert gone not in sighting_ids(alice, live_only=True)
    a = account(alice)
    assert a.full_resyncs == 1 and a.sync_generation == 2 and a.backfill_state == "done"
    # and the new cursor works: the next cycle is incremental again
    assert crm.mailbox_sync.sync(a.id).mode == "incremental"


def test_idle_incremental_cycle_costs_one_history_call(crm, team, sim):
    crm.sync_all()
    alice = team.team[0].address
    sim.clear_calls()
    report = crm.mailbox_sync.sync(account(alice).id)
    assert report.ok and report.stored == 0
    assert sim.units_used(alice) <= 3
    assert [c.method for c in sim.calls(user=alice) if c.method != "token"] == ["users.history.list"]


def test_interrupted_backfill_resumes_from_the_saved_page_without_duplicates(crm, team, sim):
    alice = team.team[0].address
    sync = crm.mailbox_sync
    calls = {"n": 0}

    def stop_after_two_batches():
        calls["n"] += 1
        return calls["n"] >= 2

    sync.should_stop = stop_after_two_batches
    first = sync.sync(account(alice).id)
    assert first.error == "interrupted by shutdown"
    assert account(alice).backfill_state == "running"
    sync.should_stop = lambda: False
    second = sync.sync(account(alice).id)
    assert second.ok and account(alice).backfill_state == "done"
    crm.sync_all()
    assert_store_matches_dataset(team)


def test_a_message_deleted_between_list_and_get_is_skipped_and_the_cursor_moves(crm, team, sim):
    sim.faults.update(deleted_before_get=0.2, seed=5)
    reports = crm.sync_all()
    assert all(r.ok for r in reports)
    gone = SkippedMessage.select().where(SkippedMessage.reason == "gone").count()
    assert gone > 0
    assert all(account(m.address).history_id for m in team.team)


def test_a_batch_split_over_many_insert_statements_is_stored_whole_and_searchable(crm_on, team, monkeypatch):
    """The store puts many rows in one INSERT (a statement per row made the search index ~5x
    dearer); rows beyond what one statement may bind go in the next, none lost or doubled."""
    monkeypatch.setattr(capture_store, "MAX_PARAMS", 50)  # 2 emails, or 8 participants, a statement
    assert [r.ok for r in crm_on.sync_all()] == [True] * len(team.team)
    assert_store_matches_dataset(team)
    emails = list(Email.select())
    if is_sqlite():  # PostgreSQL indexes the email rows themselves
        indexed = {rowid for (rowid,) in database.execute_sql("SELECT rowid FROM email_search")}
        assert indexed == {activity_queries.time_key(e.sent_at, e.id) for e in emails}
    newest = max(emails, key=lambda e: (e.sent_at, e.id))
    found = queries.email_activity(q=newest.from_email, limit=1)["items"]
    assert [item["email_id"] for item in found] == [newest.id]


def test_an_email_another_mailbox_stored_meanwhile_is_joined_not_duplicated(crm_on, team, monkeypatch):
    """Two mailboxes' syncs may store the same email at once (PostgreSQL does not serialize
    writers): the later insert yields to the row already there and its sighting joins it."""
    import base64
    from datetime import datetime

    from appsrc.store import capture as store

    first, second = team.team[0].address, team.team[1].address
    message = next(m for m in team.messages_in(first) if m.expected == "capture" and m.message_id)
    fetched = {
        "id": "race",
        "threadId": "race",
        "labelIds": ["INBOX"],
        "internalDate": str(message.internal_date_ms),
        "raw": base64.urlsafe_b64encode(message.raw).decode(),
    }
    sighting = crm_on.mailbox_sync.prepare(fetched, crm_on.directory())
    now = datetime.now(UTC)
    store.apply_batch(account(first).id, 1, store.BatchWrite(sightings=[sighting]), now)
    proposals = ActivityProposal.select().count()
    assert proposals

    looked_up = store._emails_by_key
    calls = []

    def first_lookup_misses(keys):  # the other mailbox commits between our lookup and insert
        calls.append(keys)
        return {} if len(calls) == 1 else looked_up(keys)

    monkeypatch.setattr(store, "_emails_by_key", first_lookup_misses)
    counts = store.apply_batch(account(second).id, 1, store.BatchWrite(sightings=[sighting]), now)
    assert len(calls) == 2 and counts.stored == 1
    email = Email.get(Email.message_id == message.message_id)
    assert {s.account.address for s in email.sightings} == {first, second}
    assert Email.select().where(Email.message_id == message.message_id).count() == 1
    assert ActivityProposal.select().count() == proposals


def test_fault_mix_captures_everything(crm, team, sim):
    """Inner 429 10 %, 5xx 2 %, dropped connections and requests that outlast the client's
    timeout, messages deleted between list and get, empty history pages and an expired history
    cursor mid-run — and the faults never stop: every message still in Gmail is captured exactly
    per the ground truth, the deleted ones are accounted for, every cursor reaches Gmail's."""
    crm.remotes.retry = type(crm.remotes.retry)(attempts=12, base_delay_s=0.01, max_delay_s=0.05)
    crm.remotes.http_timeout_s = 0.5
    # First the client's own timeout fires (the answer comes too late), then connections drop.
    sim.faults.update(
        inner_429=0.10,
        inner_5xx=0.02,
        timeout=0.05,
        timeout_mode="sleep",
        timeout_sleep_s=0.8,
        deleted_before_get=0.02,
        empty_history_page=0.3,
        seed=11,
    )
    sim.faults.time_out_next(2)  # whatever the threads' draws, both kinds of timeout happen
    reports = crm.sync_all()
    alice = team.team[0].address
    sim.insert_message(
        alice,
        b"From: late@acme.example\r\nTo: "
        + alice.encode()
        + b"\r\nSubject: during the outage\r\nMessage-ID: <late@acme.example>\r\n\r\nhi\r\n",
    )
    sim.expire_history(alice)
    sim.faults.update(timeout_mode="close", timeout=0.2)
    sim.faults.time_out_next(2, mode="close")
    for _ in range(3):  # pending fetches are retried on later cycles
        reports = crm.sync_all()
    assert all(r.ok for r in reports), [r.error for r in reports]
    assert sim.call_count("connection.dropped") > 0 and sim.call_count("connection.delayed") > 0
    histories = {m.address: account(m.address).history_id for m in team.team}
    assert histories == {m.address: str(sim.history_id(m.address)) for m in team.team}  # no cursor stalled
    assert account(alice).full_resyncs == 1
    still_there = {m.address: set(sim.message_ids(m.address)) for m in team.team}
    deleted = {
        (m.mailbox, m.key) for m in team.messages if team.gmail_ids[(m.mailbox, m.key)] not in still_there[m.mailbox]
    }
    assert deleted, "the fault should have deleted some messages between list and get"
    for mailbox, key in deleted:  # gone from Gmail: skipped as gone, or a sighting marked deleted
        gmail_id = team.gmail_ids[(mailbox, key)]
        assert gmail_id in skipped(mailbox) or gmail_id not in sighting_ids(mailbox, live_only=True)
    team.messages = [m for m in team.messages if (m.mailbox, m.key) not in deleted]
    assert_store_matches_dataset(team, allow_gone=True)
    assert Email.select().where(Email.message_id == "<late@acme.example>").count() == 1


def test_is_sent_is_gmails_sent_label_on_each_copy(crm, team):
    """A sighting is "sent" exactly when Gmail labels that mailbox's copy SENT (the digest counts
    a teammate's sent and received mail from it), whatever the email's From says."""
    crm.sync_all()
    rows = list(
        EmailAccountMessage.select(
            EmailAccount.address,
            EmailAccountMessage.gmail_id,
            EmailAccountMessage.is_sent,
            EmailAccountMessage.label_ids,
        )
        .join(EmailAccount)
        .tuples()
    )
    assert all(is_sent == ("SENT" in labels) for _, _, is_sent, labels in rows)
    truth = {team.gmail_ids[(m.mailbox, m.key)]: "SENT" in m.label_ids for m in team.messages}
    assert {gmail_id: is_sent for _, gmail_id, is_sent, _ in rows} == {g: truth[g] for _, g, _, _ in rows}
    assert {is_sent for *_, is_sent, _ in rows} == {True, False}  # the dataset has both kinds


def test_the_mailboxes_api_reports_skips_by_reason_and_backfill_progress(crm, team):
    from appsrc.crm.users import issue_token
    from appsrc.web.app import create_app

    app = create_app(crm)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + issue_token(
        team.team[0].address, crm.clock.now(), label="test"
    )

    def mailboxes() -> dict[str, dict]:
        response = client.get("/api/mailboxes")
        assert response.status_code == 200, response.text
        return {m["address"]: m for m in response.json["items"]}

    assert {(m["backfill_progress"], m["skipped_reasons"]) == (0.0, {}) for m in mailboxes().values()} == {True}
    crm.sync_all()
    for member in team.team:
        shown = mailboxes()[member.address]
        internal = sum(m.expected == "internal" for m in team.messages_in(member.address))
        assert shown["skipped_reasons"] == dict(Counter(skipped(member.address).values()))
        assert shown["skipped_reasons"]["internal"] >= internal > 0  # (a malformed one may count too)
        assert sum(shown["skipped_reasons"].values()) == shown["skipped"]
        assert shown["backfill_progress"] == 1.0 and shown["backfill_state"] == "done"
    # Part-way through a backfill: the share of the mailbox listed so far, to four places,
    # never above 1 (Gmail's total is an estimate) and 0 while the total is unknown.
    alice = team.team[0].address
    for listed, total, progress in ((1, 3, 0.3333), (250, 200, 1.0), (40, None, 0.0)):
        EmailAccount.update(backfill_state="running", backfill_listed=listed, messages_total=total).where(
            EmailAccount.address == alice
        ).execute()
        assert mailboxes()[alice]["backfill_progress"] == progress
