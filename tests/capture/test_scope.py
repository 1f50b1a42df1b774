"""Capture scope and mailbox lifecycle through the Gmail simulator: what each scope stores, mail
that becomes investor mail later, switching scope both ways, a teammate's own exclusions, and
pause, resume, deactivate and remove, counted before and after."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from appsrc.crm import capture_policy, mailboxes, member_exclusions
from appsrc.crm.investors import add_contact, create_investor
from appsrc.crm.users import add_user, update_user
from appsrc.crm.validation import ValidationError
from appsrc.store import bare, queries
from appsrc.store.models import (
    AuditEvent,
    BareParticipant,
    BareSighting,
    Email,
    EmailAccount,
    EmailAccountMessage,
    SkippedMessage,
    User,
)
from tests.capture.conftest import DATASET_NOW, make_runtime

ALICE, BOB, CAROL = "alice@fund.example", "bob@fund.example", "carol@fund.example"


def message(sender: str, to: list[str], subject: str, body: str = "", *, n: int = 0) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(DATASET_NOW.replace(minute=n % 60))
    msg["Message-ID"] = f"<{abs(hash((sender, subject, n)))}@test.example>"
    msg.set_content(body or f"Body of {subject}: confidential words")
    return msg.as_bytes()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def desk(request, sim, tmp_path):
    """Alice (admin) and Bob on scope `investors`, on each database; Acme is an investor, Blue
    Harbor is not yet."""
    for address in (ALICE, BOB, CAROL):
        sim.add_mailbox(address)
    env = {"CRM_OWN_DOMAINS": "fund.example"}
    if request.param == "postgres":
        env["CRM_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    rt = make_runtime(sim, tmp_path, scope="investors", **env)
    now = rt.clock.now()
    rt.alice = add_user(ALICE, "Alice", now, is_admin=True)
    rt.bob = add_user(BOB, "Bob", now)
    rt.acme, _ = create_investor("Acme Capital", ["acme.example"], now, directory=rt.directory)
    rt.ids = {
        "acme": sim.insert_message(ALICE, message("jane@acme.example", [ALICE], "Capital call Q3")),
        "harbor": sim.insert_message(ALICE, message("ceo@blueharbor.example", [ALICE], "Harbor intro")),
        "harbor_bob": sim.insert_message(BOB, message("ceo@blueharbor.example", [BOB], "Harbor follow-up", n=1)),
        "doctor": sim.insert_message(BOB, message("dr.who@clinic.example", [BOB], "Your results", n=2)),
        "internal": sim.insert_message(ALICE, message(BOB, [ALICE], "Lunch", n=3)),
    }
    yield rt
    rt.close()


def stored_subjects() -> set[str]:
    return {s for (s,) in Email.select(Email.subject).tuples()}


def searchable(word: str) -> list[str]:
    queries.clear_cache()
    return [i["subject"] for i in queries.email_activity(q=word)["items"]]


def test_scope_investors_stores_investor_mail_in_full_and_the_rest_bare(desk, sim):
    reports = desk.sync_all()
    assert all(r.ok for r in reports)
    assert stored_subjects() == {"Capital call Q3"}
    bare_rows = {
        (a, g): (t, s)
        for a, g, t, s in BareSighting.select(
            EmailAccount.address, BareSighting.gmail_id, BareSighting.gmail_thread_id, BareSighting.sent_at
        )
        .join(EmailAccount)
        .tuples()
    }
    assert set(bare_rows) == {
        (ALICE, desk.ids["harbor"]),
        (BOB, desk.ids["harbor_bob"]),
        (BOB, desk.ids["doctor"]),
    }
    assert bare_rows[ALICE, desk.ids["harbor"]][0] == sim.message(ALICE, desk.ids["harbor"]).thread_id
    # Who, never what: the participants are kept, no subject or body anywhere.
    assert {a for (a,) in BareParticipant.select(BareParticipant.address).tuples()} == {
        ALICE,
        BOB,
        "ceo@blueharbor.example",
        "dr.who@clinic.example",
    }
    for table in ("bare_sighting", "bare_participant"):
        dump = " ".join(str(v) for row in desk.db.execute_sql(f"SELECT * FROM {table}").fetchall() for v in row)
        assert "Harbor" not in dump and "confidential" not in dump and "results" not in dump
    assert searchable("Harbor") == [] and searchable("confidential") == ["Capital call Q3"]
    boxes = {m["address"]: m for m in queries.list_mailboxes()}
    assert boxes[ALICE]["bare"] == 1 and boxes[BOB]["bare"] == 2 and boxes[ALICE]["stored"] == 1
    # A full resync lists them all again and fetches none: bare sightings are known.
    sim.clear_calls()
    assert all(r.ok and r.mode == "resync" for r in desk.sync_all(full=True))
    assert sim.call_count("users.messages.list") > 0 and sim.call_count("users.messages.get") == 0
    assert BareSighting.select().count() == 3


def test_scope_all_stores_every_external_email(sim, tmp_path):
    sim.add_mailbox(ALICE)
    rt = make_runtime(sim, tmp_path, scope="all", CRM_OWN_DOMAINS="fund.example")
    add_user(ALICE, "Alice", rt.clock.now(), is_admin=True)
    sim.insert_message(ALICE, message("ceo@blueharbor.example", [ALICE], "Harbor intro"))
    sim.insert_message(ALICE, message(BOB, [ALICE], "Lunch", n=3))
    rt.sync_all()
    assert stored_subjects() == {"Harbor intro"} and BareSighting.select().count() == 0
    rt.close()


def test_a_later_investor_pulls_old_mail_back_in_full_proposed_and_paid_for(desk, sim):
    desk.sync_all()
    units_before = sim.units_used()
    gets_before = sim.call_count("users.messages.get")
    stats = create_investor("Blue Harbor", ["blueharbor.example"], desk.clock.now(), directory=desk.directory)[1]
    assert stats["refetch_queued"] == 2
    assert {m["address"]: m["refetch_pending"] for m in queries.list_mailboxes()} == {ALICE: 1, BOB: 1}
    assert {m["address"]: m["sync_requested_at"] is not None for m in queries.list_mailboxes()}[ALICE]

    reports = {r.address: r for r in desk.sync_all()}
    assert reports[ALICE].refetched == 1 and reports[BOB].refetched == 1
    assert stored_subjects() == {"Capital call Q3", "Harbor intro", "Harbor follow-up"}
    assert searchable("Harbor") == ["Harbor follow-up", "Harbor intro"] or sorted(searchable("Harbor")) == [
        "Harbor follow-up",
        "Harbor intro",
    ]
    harbor = Email.get(Email.subject == "Harbor intro")
    assert [p.investor.name for p in harbor.proposals] == ["Blue Harbor"]
    assert [link.investor.name for link in harbor.investor_links] == ["Blue Harbor"]
    # The doctor's mail is still bare; the refetched ones are not; the queue is empty.
    assert {g for (g,) in BareSighting.select(BareSighting.gmail_id).tuples()} == {desk.ids["doctor"]}
    assert all(m["refetch_pending"] == 0 for m in queries.list_mailboxes())
    # Fetched again through Gmail, at the quota's cost.
    assert sim.call_count("users.messages.get") > gets_before
    assert sim.units_used() > units_before


def test_a_new_contact_at_a_free_mail_address_pulls_their_mail_back(desk, sim):
    sim.insert_message(ALICE, message("jane.roe@gmail.com", [ALICE], "From my phone", n=5))
    desk.sync_all()
    assert "From my phone" not in stored_subjects()
    _contact, stats = add_contact(
        desk.acme.id, "Jane Roe", ["janeroe@gmail.com"], desk.clock.now(), directory=desk.directory
    )
    assert stats["refetch_queued"] == 1  # Gmail ignores dots: the same mailbox
    desk.sync_all()
    assert "From my phone" in stored_subjects()


def test_switching_to_all_fetches_the_bare_sightings_in_full(desk, sim):
    desk.sync_all()
    change = capture_policy.set_scope("all", desk.clock.now(), actor=desk.alice)
    assert (change.scope, change.previous, change.refetch_queued) == ("all", "investors", 3)
    desk.sync_all()
    assert stored_subjects() == {"Capital call Q3", "Harbor intro", "Harbor follow-up", "Your results"}
    assert BareSighting.select().count() == 0
    assert AuditEvent.get(AuditEvent.action == "capture.scope").detail["refetch_queued"] == 3


def test_switching_to_investors_needs_a_confirmation_naming_the_count_then_reduces(desk, sim):
    capture_policy.set_scope("all", desk.clock.now())
    desk.sync_all()
    assert len(stored_subjects()) == 4
    with pytest.raises(capture_policy.ConfirmationNeeded) as refused:
        capture_policy.set_scope("investors", desk.clock.now())
    assert refused.value.counts == {"emails_reduced": 3} and "3 emails" in str(refused.value)
    assert bare.capture_scope() == "all" and len(stored_subjects()) == 4  # nothing changed

    change = capture_policy.set_scope("investors", desk.clock.now(), confirm=True)
    assert change.emails_reduced == 3
    assert stored_subjects() == {"Capital call Q3"}
    assert searchable("Harbor") == []
    assert BareSighting.select().count() == 3
    boxes = {m["address"]: m for m in queries.list_mailboxes()}
    assert (boxes[ALICE]["stored"], boxes[ALICE]["bare"], boxes[BOB]["stored"], boxes[BOB]["bare"]) == (1, 1, 0, 2)
    # Reduced mail is not fetched again by a full resync, and still comes back when it matches.
    sim.clear_calls()
    desk.sync_all(full=True)
    assert sim.call_count("users.messages.get") == 0 and BareSighting.select().count() == 3
    create_investor("Blue Harbor", ["blueharbor.example"], desk.clock.now(), directory=desk.directory)
    desk.sync_all()
    assert {"Harbor intro", "Harbor follow-up"} <= stored_subjects()


def test_mail_that_stops_being_investor_mail_is_reduced_unless_it_has_history(desk, sim):
    desk.sync_all()
    from appsrc.crm.investors import update_investor

    update_investor(desk.acme.id, desk.clock.now(), directory=desk.directory, domains=["acme-other.example"])
    assert stored_subjects() == set()
    assert BareSighting.select().where(BareSighting.gmail_id == desk.ids["acme"]).exists()


def test_bad_scope_values_are_refused_by_field(desk):
    for raw in ("everything", "", None, 3):
        with pytest.raises(ValidationError) as bad:
            capture_policy.set_scope(raw, desk.clock.now())
        assert bad.value.field == "scope"
    assert bare.capture_scope() == "investors"


def test_a_teammates_own_exclusion_drops_mail_before_storage_and_removes_what_was_captured(desk, sim):
    capture_policy.set_scope("all", desk.clock.now())
    # Carol (not a user yet) also received the clinic's mail: hers is hers.
    sim.insert_message(CAROL, message("dr.who@clinic.example", [CAROL], "Flu shots", n=7))
    add_user(CAROL, "Carol", desk.clock.now())
    desk.sync_all()
    assert {"Your results", "Flu shots"} <= stored_subjects()
    bob_before = EmailAccount.get(EmailAccount.address == BOB)

    exclusion, counts = member_exclusions.add(desk.bob, "clinic.example", desk.clock.now(), directory=desk.directory)
    assert counts == {"sightings_removed": 1, "emails_deleted": 1, "bare_removed": 0}
    assert "Your results" not in stored_subjects() and "Flu shots" in stored_subjects()
    skip = SkippedMessage.get(SkippedMessage.gmail_id == desk.ids["doctor"])
    assert skip.reason == "excluded" and "clinic" not in skip.detail
    bob_after = EmailAccount.get(EmailAccount.address == BOB)
    assert (bob_after.stored_count, bob_after.skipped_count) == (
        bob_before.stored_count - 1,
        bob_before.skipped_count + 1,
    )
    event = AuditEvent.get(AuditEvent.action == "member_exclusion.add")
    assert "clinic" not in str(event.detail) and "clinic" not in event.target_id

    # New mail from the clinic never reaches the store from Bob's mailbox, and is not fetched again.
    later = sim.insert_message(BOB, message("nurse@clinic.example", [BOB], "Appointment", n=8))
    desk.sync_all()
    assert "Appointment" not in stored_subjects()
    assert SkippedMessage.get(SkippedMessage.gmail_id == later).reason == "excluded"
    assert member_exclusions.list_for(desk.bob)[0]["value"] == "clinic.example"
    assert member_exclusions.list_for(desk.alice) == []

    member_exclusions.remove(desk.bob, exclusion.id, desk.clock.now())
    assert not SkippedMessage.select().where(SkippedMessage.gmail_id == desk.ids["doctor"]).exists()


def test_a_teammate_cannot_exclude_the_funds_own_or_its_investors(desk):
    for raw, words in (
        ("fund.example", "own domains"),
        (ALICE, "colleague"),
        ("acme.example", "investor"),
        ("jane@acme.example", "investor"),
        ("not an address", "valid"),
    ):
        with pytest.raises(ValidationError) as refused:
            member_exclusions.add(desk.bob, raw, desk.clock.now(), directory=desk.directory)
        assert words in str(refused.value) and refused.value.field == "value"


def test_an_exclusion_of_bare_mail_removes_the_bare_sighting(desk):
    desk.sync_all()
    _exclusion, counts = member_exclusions.add(
        desk.bob, "dr.who@clinic.example", desk.clock.now(), directory=desk.directory
    )
    assert counts["bare_removed"] == 1
    assert not BareSighting.select().where(BareSighting.gmail_id == desk.ids["doctor"]).exists()


def count_calls(sim, user: str) -> int:
    return len(sim.calls(user=user))


def test_pause_makes_no_gmail_call_and_resume_continues_from_the_cursor(desk, sim):
    desk.sync_all()
    bob = EmailAccount.get(EmailAccount.address == BOB)
    mailboxes.pause(bob.id, desk.clock.now(), actor=desk.alice)
    assert {m["address"]: m["state"] for m in queries.list_mailboxes()}[BOB] == "paused"
    assert bob.id not in queries.mailbox_due_ids(desk.clock.now(), 0)
    sim.insert_message(BOB, message("jane@acme.example", [BOB], "While paused", n=9))
    sim.clear_calls()
    reports = {r.address: r for r in desk.sync_all()}
    assert BOB not in reports and count_calls(sim, BOB) == 0
    assert desk.mailbox_sync.sync(bob.id).error.startswith("not capturing")
    assert count_calls(sim, BOB) == 0 and "While paused" not in stored_subjects()

    mailboxes.resume(bob.id, desk.clock.now(), actor=desk.alice)
    report = desk.mailbox_sync.sync(bob.id)
    assert report.ok and report.mode == "incremental" and "While paused" in stored_subjects()
    assert [e.action for e in AuditEvent.select().where(AuditEvent.target_type == "mailbox")] == [
        "mailbox.pause",
        "mailbox.resume",
    ]


def test_resume_after_the_cursor_expired_runs_a_full_resync(desk, sim):
    desk.sync_all()
    bob = EmailAccount.get(EmailAccount.address == BOB)
    mailboxes.pause(bob.id, desk.clock.now())
    sim.insert_message(BOB, message("jane@acme.example", [BOB], "Long pause", n=10))
    sim.expire_history(BOB)
    mailboxes.resume(bob.id, desk.clock.now())
    report = desk.mailbox_sync.sync(bob.id)
    assert report.ok and report.mode == "resync" and "Long pause" in stored_subjects()
    # Nothing duplicated: every Gmail message is one sighting, bare or full.
    full = EmailAccountMessage.select().where(EmailAccountMessage.account == bob.id).count()
    kept_bare = BareSighting.select().where(BareSighting.account == bob.id).count()
    assert full + kept_bare == len(sim.message_ids(BOB))


def test_a_deactivated_user_is_no_longer_captured_and_keeps_their_history(desk, sim):
    desk.sync_all()
    before = {m["address"]: m for m in queries.list_mailboxes()}
    update_user(desk.bob.id, desk.clock.now(), is_active=False, actor=desk.alice)
    assert {m["address"]: m["state"] for m in queries.list_mailboxes()}[BOB] == "deactivated"
    sim.insert_message(BOB, message("jane@acme.example", [BOB], "After leaving", n=11))
    sim.clear_calls()
    desk.sync_all()
    assert count_calls(sim, BOB) == 0 and "After leaving" not in stored_subjects()
    after = {m["address"]: m for m in queries.list_mailboxes()}
    assert (after[BOB]["stored"], after[BOB]["bare"]) == (before[BOB]["stored"], before[BOB]["bare"])
    with pytest.raises(ValidationError, match="deactivated"):
        mailboxes.resume(EmailAccount.get(EmailAccount.address == BOB).id, desk.clock.now())
    update_user(desk.bob.id, desk.clock.now(), is_active=True, actor=desk.alice)
    desk.sync_all()
    assert "After leaving" in stored_subjects()


def test_a_user_added_later_is_captured_from_the_next_cycle(desk, sim):
    desk.sync_all()
    sim.insert_message(CAROL, message("jane@acme.example", [CAROL], "For Carol", n=12))
    add_user(CAROL, "Carol", desk.clock.now())
    carol = EmailAccount.get(EmailAccount.address == CAROL)
    assert carol.id in queries.mailbox_due_ids(desk.clock.now(), 300)
    desk.sync_all()
    assert "For Carol" in stored_subjects()


def test_remove_mailbox_needs_the_typed_address_and_keeps_what_others_hold(desk, sim):
    capture_policy.set_scope("all", desk.clock.now())
    shared = message("jane@acme.example", [ALICE, BOB], "Shared memo", n=13)
    sim.insert_message(ALICE, shared)
    sim.insert_message(BOB, shared)
    desk.sync_all()
    from appsrc.crm import proposals

    bob = EmailAccount.get(EmailAccount.address == BOB)
    bob_only = Email.get(Email.subject == "Harbor follow-up")
    decided = Email.get(Email.subject == "Your results")  # an unusual decision, kept as history
    assert bob_only.id and decided.id
    for wrong in ("", "alice@fund.example", None, 7):
        with pytest.raises(ValidationError) as refused:
            mailboxes.remove(bob.id, wrong, desk.clock.now())
        assert refused.value.field == "confirm"
    before = EmailAccountMessage.select().where(EmailAccountMessage.account == bob.id).count()
    assert before == 3
    acme_from_bob = Email.get(Email.subject == "Shared memo")
    proposal = acme_from_bob.proposals.get()
    proposals.approve([proposal.id], desk.alice, desk.clock.now(), directory=desk.directory)

    counts = mailboxes.remove(bob.id, " Bob@Fund.example ", desk.clock.now(), actor=desk.alice)
    assert counts == {"sightings_removed": 3, "bare_removed": 0, "emails_deleted": 2, "emails_kept_as_history": 0}
    assert EmailAccountMessage.select().where(EmailAccountMessage.account == bob.id).count() == 0
    assert "Shared memo" in stored_subjects()  # Alice holds it too
    assert {"Harbor follow-up", "Your results"}.isdisjoint(stored_subjects())
    state = {m["address"]: m for m in queries.list_mailboxes()}[BOB]
    assert (state["state"], state["stored"], state["listed"]) == ("removed", 0, 0)
    sim.clear_calls()
    desk.sync_all()
    assert count_calls(sim, BOB) == 0
    event = AuditEvent.get(AuditEvent.action == "mailbox.remove")
    assert event.detail["sightings_removed"] == 3

    # Resuming a removed mailbox captures it again from the start.
    mailboxes.resume(bob.id, desk.clock.now())
    report = desk.mailbox_sync.sync(bob.id)
    assert report.ok and report.mode == "backfill"
    assert {"Harbor follow-up", "Your results"} <= stored_subjects()


def test_remove_keeps_decided_history_held_by_no_other_mailbox_hidden(desk, sim):
    from appsrc.crm import proposals

    sim.insert_message(BOB, message("jane@acme.example", [BOB], "Only Bob has it", n=14))
    desk.sync_all()
    email = Email.get(Email.subject == "Only Bob has it")
    proposals.approve([email.proposals.get().id], desk.alice, desk.clock.now(), directory=desk.directory)
    bob = EmailAccount.get(EmailAccount.address == BOB)
    counts = mailboxes.remove(bob.id, BOB, desk.clock.now())
    assert counts["emails_kept_as_history"] == 1
    assert Email.get_or_none(Email.id == email.id) is not None
    assert "Only Bob has it" not in searchable("Bob")  # no live sighting: hidden like a Gmail deletion


def test_pause_and_remove_refuse_unknown_mailboxes(desk):
    for action in (mailboxes.pause, mailboxes.resume):
        with pytest.raises(mailboxes.MailboxNotFound):
            action(999, desk.clock.now())
    with pytest.raises(mailboxes.MailboxNotFound):
        mailboxes.remove(999, "x@fund.example", desk.clock.now())
    assert User.select().count() == 2


def test_a_fund_wide_exclusion_also_removes_bare_sightings(desk):
    from appsrc.crm.exclusions import add_exclusion

    desk.sync_all()
    assert BareSighting.select().where(BareSighting.gmail_id == desk.ids["harbor"]).exists()
    add_exclusion("blueharbor.example", desk.clock.now(), actor=desk.alice, own_domains={"fund.example"})
    assert (
        not BareSighting.select().join(BareParticipant).where(BareParticipant.domain == "blueharbor.example").exists()
    )
    skip = SkippedMessage.get(SkippedMessage.gmail_id == desk.ids["harbor"])
    assert skip.reason == "excluded"
    # ... and an investor added later at that domain does not bring it back: it is excluded.
    stats = create_investor("Blue Harbor", ["blueharbor.example"], desk.clock.now(), directory=desk.directory)[1]
    assert stats["refetch_queued"] == 0
