"""Send-now and the test email as background jobs, for the web API and the dashboard.

A request records the attempt (`DigestRun`, pending) and returns its id at once; a daemon thread
with its own database connection does the slow part (LLM, transport) and records the outcome on
that row, which the caller polls. One job of each kind at a time: a second click while one is
pending gets the running one back (`JobBusy`) instead of a second digest. A pending row older
than this process that none of its threads runs was left by a web process that stopped mid-job:
it is marked interrupted there and then, rather than blocking the button until the stale-row
sweep. A newer one (a `digest send-now` from the command line, say) is busy like any other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from appsrc.digest.service import INTERRUPTED, DigestService
from appsrc.mail.mailer import active_admin_addresses
from appsrc.mail.sanitize import sanitize_error
from appsrc.store.db import database
from appsrc.store.models import DigestRun, User

log = logging.getLogger(__name__)

KINDS = ("send-now", "test")


class JobBusy(Exception):
    def __init__(self, run: DigestRun) -> None:
        super().__init__(f"a {run.kind} job is already running (run {run.id})")
        self.run = run


class DigestJobs:
    def __init__(self, service: DigestService) -> None:
        self.service = service
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        self._started_at = service.clock.now()

    def start(
        self, kind: str, *, requested_by: User | None = None, recipients: Sequence[str] | None = None
    ) -> DigestRun:
        """Record the attempt and start it; raises JobBusy, or RecipientNotAllowed (nothing recorded)."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        mailer = self.service.mailer
        wanted = mailer.check_recipients(recipients if recipients is not None else active_admin_addresses())
        now = self.service.clock.now()
        with self._lock, database.atomic():
            busy = (
                DigestRun.select()
                .where(
                    (DigestRun.kind == kind)
                    & (DigestRun.status == "pending")
                    & (DigestRun.created_at >= now - self.service.stale_after)
                )
                .order_by(DigestRun.id.desc())
                .first()
            )
            if busy is not None and (busy.id in self._threads or busy.created_at >= self._started_at):
                raise JobBusy(busy)
            if busy is not None:
                log.warning(
                    "digest %s job %s was left pending by a stopped process; marking it interrupted", kind, busy.id
                )
                DigestRun.update(status="interrupted", error=INTERRUPTED, finished_at=now).where(
                    (DigestRun.id == busy.id) & (DigestRun.status == "pending")
                ).execute()
            run = mailer.record_attempt(kind, recipients=wanted, requested_by=requested_by)
            thread = threading.Thread(
                target=self._run, args=(run.id, kind, wanted), daemon=True, name=f"digest-{kind}-{run.id}"
            )
            self._threads[run.id] = thread
        thread.start()
        return run

    def _run(self, run_id: int, kind: str, recipients: tuple[str, ...]) -> None:
        try:
            with database.connection_context():
                run = DigestRun.get_by_id(run_id)
                try:
                    if kind == "test":
                        self.service.send_test(recipients, run=run)
                    else:
                        self.service.send_now(run=run)
                except Exception as exc:  # the row must not stay pending because of a bug or a refusal
                    log.error("digest %s job %s failed: %s", kind, run_id, sanitize_error(exc))
                    DigestRun.update(
                        status="failed",
                        error=sanitize_error(f"{exc.__class__.__name__}: {exc}"),
                        finished_at=self.service.clock.now(),
                    ).where((DigestRun.id == run_id) & (DigestRun.status == "pending")).execute()
        finally:
            with self._lock:
                self._threads.pop(run_id, None)

    def wait(self, run_id: int, timeout: float | None = None) -> bool:
        """Block until the job for `run_id` ends (tests, CLI); True if it is not running."""
        with self._lock:
            thread = self._threads.get(run_id)
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True
