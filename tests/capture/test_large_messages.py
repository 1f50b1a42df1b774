"""Large mail (data-room PDFs) never balloons the sync's memory: batches carry about
gmail.BATCH_BYTES of mail by each message's size class, and messages from LARGE_MESSAGE_BYTES are
fetched in format=full, where Gmail leaves attachment bodies out — with nothing lost: the same
headers, body and attachment metadata (real sizes) as the raw message gives."""

from __future__ import annotations

import base64
import os

import pytest

from appsrc.capture.parser import UnparseableEmail, parse_email
from appsrc.crm.users import add_user
from appsrc.gmail.client import BATCH_BYTES, LARGE_MESSAGE_BYTES, SMALL_MESSAGE_BYTES
from appsrc.gmail.payload import raw_from_full_payload
from appsrc.simulator import generate_team, mime
from appsrc.store.models import Email, EmailAccount
from tests.capture.conftest import DATASET_NOW

ALICE = "alice@fund.example"


def with_attachment(i: int, attachment_bytes: int, filename: str = "data-room.pdf") -> bytes:
    blob = base64.encodebytes(os.urandom(attachment_bytes)).replace(b"\n", b"\r\n")
    return (
        (
            f"From: Jane <jane{i}@acme.example>\r\nTo: {ALICE}\r\nSubject: =?utf-8?q?Data_room_=E2=80=94_{i}?=\r\n"
            f"Message-ID: <dr{i}@acme.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
            "Content-Type: multipart/alternative; boundary=AA\r\n\r\n--AA\r\n"
            "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            f"Gr=FC=DFe, the Q3 numbers are attached ({i}).\r\n--AA\r\nContent-Type: text/html\r\n\r\n"
            f'<p>the Q3 numbers</p>\r\n--AA--\r\n--BB\r\nContent-Type: application/pdf; name="{filename}"\r\n'
            f'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="{filename}"\r\n\r\n'
        ).encode()
        + blob
        + b"--BB--\r\n"
    )


@pytest.fixture
def alice(runtime, sim):
    sim.add_mailbox(ALICE)
    add_user(ALICE, "Alice", runtime.clock.now())
    return EmailAccount.get(EmailAccount.address == ALICE).id


def gets(sim, fmt: str) -> int:
    return sum(1 for c in sim.calls("users.messages.get") if c.params.get("format") == fmt)


def test_a_backfill_fetches_large_mail_without_its_attachments(runtime, sim, alice):
    big = [sim.insert_message(ALICE, with_attachment(i, 3 * 1024 * 1024)) for i in range(3)]
    for i in range(40):
        sim.insert_message(ALICE, f"From: lp{i}@acme.example\r\nTo: {ALICE}\r\nSubject: s{i}\r\n\r\nb\r\n".encode())
    report = runtime.mailbox_sync.sync(alice)
    assert report.ok and report.stored == 43
    assert (gets(sim, "full"), gets(sim, "raw")) == (3, 40)
    sizes = [c.params["q"] for c in sim.calls("users.messages.list") if "larger:" in c.params.get("q", "")]
    assert sizes == [f"larger:{LARGE_MESSAGE_BYTES} -in:chats", f"larger:{SMALL_MESSAGE_BYTES} -in:chats"]
    email = Email.get(Email.message_id == "<dr1@acme.example>")
    assert email.subject == "Data room — 1" and email.from_email == "jane1@acme.example"
    assert "Grüße, the Q3 numbers are attached (1)." in email.body_text
    assert email.attachments == [
        {"filename": "data-room.pdf", "content_type": "application/pdf", "size": 3 * 1024 * 1024}
    ]
    assert email.has_attachments and email.size == len(sim.message(ALICE, big[1]).raw)


def test_new_large_mail_is_sized_first_then_fetched_without_its_attachments(runtime, sim, alice):
    assert runtime.mailbox_sync.sync(alice).ok  # an empty mailbox: backfill done, cursor taken
    sim.insert_message(ALICE, with_attachment(7, 2 * 1024 * 1024, "scan.pdf"))
    sim.insert_message(ALICE, f"From: lp@acme.example\r\nTo: {ALICE}\r\nSubject: small\r\n\r\nb\r\n".encode())
    sim.clear_calls()
    report = runtime.mailbox_sync.sync(alice)
    assert report.ok and report.stored == 2
    assert (gets(sim, "minimal"), gets(sim, "full"), gets(sim, "raw")) == (2, 1, 1)
    [attachment] = Email.get(Email.message_id == "<dr7@acme.example>").attachments
    assert attachment == {"filename": "scan.pdf", "content_type": "application/pdf", "size": 2 * 1024 * 1024}


def test_a_batch_holds_about_batch_bytes_of_mail(runtime, sim, alice):
    """Medium messages (160 KiB to 1 MiB) are fetched raw, at most BATCH_BYTES per batch."""
    ids = [sim.insert_message(ALICE, with_attachment(i, 300 * 1024)) for i in range(30)]
    remote = runtime.remotes.remote(ALICE)
    sim.clear_calls()
    fetched = [len(batch.messages) for batch in remote.fetch(ids, lambda _id: LARGE_MESSAGE_BYTES - 1)]
    assert sum(fetched) == 30 and max(fetched) == BATCH_BYTES // (LARGE_MESSAGE_BYTES - 1)
    assert max(c.params["parts"] for c in sim.calls("batch")) == max(fetched)
    assert gets(sim, "raw") == 30


def test_the_full_format_reads_like_the_raw_message_for_every_hard_case():
    """Every message of a dataset with all the hard cases (odd charsets, malformed MIME, NULs,
    nesting, attachments): the format=full rendering parses to the same headers, body and
    attachment names as the raw message."""
    team = generate_team(3, team_size=3, investors=8, messages_per_mailbox=60, now=DATASET_NOW)
    compared = 0
    for message in team.messages:
        rendered = raw_from_full_payload(mime.payload_tree(message.raw, "id"))
        try:
            expected = parse_email(message.raw)
        except UnparseableEmail as exc:
            with pytest.raises(UnparseableEmail) as caught:
                parse_email(rendered.raw)
            assert caught.value.reason == exc.reason
            continue
        got = parse_email(rendered.raw)
        for name in (
            "message_id",
            "from_addr",
            "to",
            "cc",
            "reply_to",
            "sent_at",
            "in_reply_to",
            "references",
            "is_bulk",
        ):
            assert getattr(got, name) == getattr(expected, name), (message.key, name)
        assert got.body_text.split() == expected.body_text.split(), message.key
        assert [(a.filename, a.content_type) for a in got.attachments] == [
            (a.filename, a.content_type) for a in expected.attachments
        ], message.key
        compared += 1
    assert compared >= 150


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"mimeType": "multipart/mixed", "parts": "nonsense"},
        {"headers": [{"name": "Subject\r\nBcc: x@y"}]},
        {
            "mimeType": "text/plain",
            "headers": [{"name": "From", "value": "a@b.example\r\nBcc: evil@x.example"}],
            "body": {"data": "%%% not base64 %%%"},
        },
    ],
)
def test_a_malformed_full_payload_renders_without_crashing_or_injecting_headers(payload):
    rendered = raw_from_full_payload(payload)
    headers = rendered.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in headers and b"\rBcc:" not in headers


def full_message(parts: list[dict]) -> dict:
    """A format=full answer as Gmail shapes it: headers on the payload, parts below."""
    return {
        "id": "f1",
        "threadId": "t1",
        "labelIds": ["INBOX"],
        "snippet": "",
        "sizeEstimate": 5_100_000,
        "internalDate": "1764000000000",
        "payload": {
            "mimeType": "multipart/mixed",
            "filename": "",
            "body": {"size": 0},
            "parts": parts,
            "headers": [
                {"name": "From", "value": "Jane <jane@acme.example>"},
                {"name": "To", "value": ALICE},
                {"name": "Subject", "value": "Docs"},
                {"name": "Content-Type", "value": 'multipart/mixed; boundary="x"'},
            ],
        },
    }


def text_part(text: str) -> dict:
    return {
        "mimeType": "text/plain",
        "filename": "",
        "headers": [{"name": "Content-Type", "value": "text/plain"}],
        "body": {"size": len(text), "data": base64.urlsafe_b64encode(text.encode()).decode()},
    }


def left_out(filename: str, size: int, mime_type: str = "application/pdf") -> dict:
    return {
        "mimeType": mime_type,
        "filename": filename,
        "body": {"attachmentId": "A" + filename, "size": size},
        "headers": [
            {"name": "Content-Type", "value": f'{mime_type}; name="{filename}"'},
            {"name": "Content-Disposition", "value": f'attachment; filename="{filename}"'},
        ],
    }


def attachments_of(runtime, message: dict) -> list[dict]:
    return runtime.mailbox_sync.prepare(message, runtime.directory()).email.row["attachments"]


def test_a_body_cannot_end_the_rendered_multipart_early(runtime):
    """Decoded bodies are written as they are; the boundaries are random, so text that looks
    like one (any predictable name) cannot cut the message and hide an attachment."""
    fake = "\r\n".join(f"--=_ir_mail_desk_{n}--" for n in range(5)) + "\r\n--=_0--\r\n"
    found = attachments_of(runtime, full_message([text_part(fake), left_out("big.pdf", 5_000_000)]))
    assert found == [{"filename": "big.pdf", "content_type": "application/pdf", "size": 5_000_000}]


def test_left_out_sizes_go_to_their_own_attachments(runtime):
    empty = {
        "mimeType": "application/octet-stream",
        "filename": "empty.bin",
        "body": {"size": 0},
        "headers": [{"name": "Content-Disposition", "value": 'attachment; filename="empty.bin"'}],
    }
    found = attachments_of(runtime, full_message([text_part("see attached"), empty, left_out("big.pdf", 5_000_000)]))
    assert [(a["filename"], a["size"]) for a in found] == [("empty.bin", 0), ("big.pdf", 5_000_000)]


def test_a_forwarded_message_gmail_expanded_stays_an_attachment(runtime):
    forwarded = left_out("fwd.eml", 2_000_000, "message/rfc822")
    forwarded["parts"] = [text_part("the original")]
    found = attachments_of(runtime, full_message([text_part("forwarding"), forwarded]))
    assert [(a["filename"], a["content_type"]) for a in found] == [("fwd.eml", "message/rfc822")]
