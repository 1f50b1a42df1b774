"""Send-now and the test email as jobs: recorded before the work, one of each kind at a time, and
never left pending when the work fails."""

from __future__ import annotations

import threading

import pytest

from appsrc.digest.jobs import DigestJobs, JobBusy
from appsrc.mail.mailer import RecipientNotAllowed
from appsrc.store.models import DigestRun
from tests.digest.helpers import make_service, smtp_transport


def test_a_job_records_first_then_sends(fund, clock, smtp_server, tls):
    jobs = DigestJobs(make_service(clock, [smtp_transport(smtp_server, tls)]))
    run = jobs.start("test", recipients=["ben@fund.example"])
    assert run.status == "pending" and DigestRun.get_by_id(run.id).recipients == ["ben@fund.example"]
    assert jobs.wait(run.id, 10)
    assert DigestRun.get_by_id(run.id).status == "sent" and smtp_server.received[0].rcpt_tos == ["ben@fund.example"]


def test_refused_recipients_record_nothing(fund, clock, smtp_server, tls):
    jobs = DigestJobs(make_service(clock, [smtp_transport(smtp_server, tls)]))
    with pytest.raises(RecipientNotAllowed):
        jobs.start("test", recipients=["tom@fund.example"])
    assert DigestRun.select().count() == 0


def test_one_job_of_a_kind_at_a_time(fund, clock, smtp_server, tls):
    release = threading.Event()

    def slow_chat(messages):
        release.wait(10)
        return "A paragraph written slowly by the local model."

    fund.mail(
        subject="x",
        sender="jane@acme.example",
        to=["ada@fund.example"],
        sent_at=clock.now(),
        links=[("acme", "jane", "jane@acme.example")],
    )
    jobs = DigestJobs(make_service(clock, [smtp_transport(smtp_server, tls)], chat_fn=slow_chat))
    first = jobs.start("send-now")
    with pytest.raises(JobBusy) as caught:
        jobs.start("send-now")
    assert caught.value.run.id == first.id
    other = jobs.start("test")  # another kind may run meanwhile
    release.set()
    assert jobs.wait(first.id, 10) and jobs.wait(other.id, 10)
    assert [DigestRun.get_by_id(i).status for i in (first.id, other.id)] == ["sent", "sent"]


def test_a_failing_job_is_marked_failed_with_a_sanitized_error(fund, clock, smtp_server, tls):
    service = make_service(clock, [smtp_transport(smtp_server, tls)])

    def broken(*args, **kwargs):
        raise RuntimeError("password=hunter2 in a bug's message")

    service.send_test = broken
    jobs = DigestJobs(service)
    run = jobs.start("test")
    assert jobs.wait(run.id, 10)
    run = DigestRun.get_by_id(run.id)
    assert run.status == "failed" and "RuntimeError" in run.error and "hunter2" not in run.error
    assert smtp_server.received == []


def test_a_job_left_pending_by_a_stopped_process_does_not_block_the_button(fund, clock, smtp_server, tls):
    service = make_service(clock, [smtp_transport(smtp_server, tls)])
    stopped = DigestJobs(service)
    orphan = stopped.start("test")  # the web process that ran it...
    assert stopped.wait(orphan.id, 10)
    DigestRun.update(status="pending", finished_at=None).where(DigestRun.id == orphan.id).execute()
    clock.advance(5)
    restarted = DigestJobs(service)  # ...has restarted: the row is pending, no thread runs it
    run = restarted.start("test")
    assert restarted.wait(run.id, 10) and DigestRun.get_by_id(run.id).status == "sent"
    orphan = DigestRun.get_by_id(orphan.id)
    assert orphan.status == "interrupted" and "whether it was delivered is unknown" in orphan.error


def test_a_send_now_started_elsewhere_after_this_process_counts_as_busy(fund, clock, smtp_server, tls):
    """A `digest send-now` from the command line records its pending row while it works."""
    service = make_service(clock, [smtp_transport(smtp_server, tls)])
    jobs = DigestJobs(service)
    clock.advance(5)
    elsewhere = service.mailer.record_attempt("send-now", recipients=["ada@fund.example"])
    with pytest.raises(JobBusy) as caught:
        jobs.start("send-now")
    assert caught.value.run.id == elsewhere.id and DigestRun.get_by_id(elsewhere.id).status == "pending"
