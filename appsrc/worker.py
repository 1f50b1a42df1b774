"""The background loop: mailbox syncs when due, and periodic steps such as the digest.

`schedule` is only a ticker here (it keeps no state and does not catch exceptions): due times
live in the database (`EmailAccount.last_sync_at`, `sync_requested_at`, `paused_until`), so a
restart picks up where the last run stopped, and every step is guarded so one failure is logged
and never kills the loop. Periodic steps run on threads of their own (one run of each at a time),
so a slow one — the digest waiting on the LLM or a mail server — never delays sync dispatch.
SIGTERM sets a flag; running syncs stop at their next batch boundary, and a step that is running
is let finish (at most the LLM deadline plus one send), so no digest is cut off mid-send.

Several workers may share a PostgreSQL database (`python -m appsrc worker` on each host): a
worker syncs a mailbox only while it holds the mailbox's lease (`store/leases.py`), claimed
before the sync starts and renewed every few seconds while it runs, so no mailbox is ever synced
by two workers at once and a dead worker's mailboxes move on when its leases expire. On SQLite
one worker runs, holding a file lock; a second is refused.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import IO

import schedule

from appsrc.store import leases
from appsrc.store.db import database
from appsrc.store.models import EmailAccount
from appsrc.store.queries import mailbox_due_ids

log = logging.getLogger(__name__)

Step = tuple[float, str, Callable[[], object]]  # (every N seconds, name, callable)
# A periodic step's claim: long enough for a digest (the LLM deadline plus a send); a worker that
# dies mid-step holds the step back for this long, and the digest's own day claim keeps it to one.
STEP_LEASE = timedelta(minutes=10)
_NOT_LOOKED = object()  # the key watch before its first look (no key at all is a reading too)


class Worker:
    def __init__(
        self,
        runtime,
        *,
        max_parallel_syncs: int | None = None,
        dispatch_every_s: float = 5.0,
        steps: list[Step] | None = None,
    ) -> None:
        self.runtime = runtime
        max_parallel_syncs = max_parallel_syncs or runtime.settings.worker_syncs
        self.stop_event = threading.Event()
        self._slot_freed = threading.Event()  # a sync ended: dispatch at once, not at the next tick
        self._max_parallel = max_parallel_syncs
        self._pool = ThreadPoolExecutor(max_workers=max_parallel_syncs, thread_name_prefix="sync")
        self._running: dict[int, Future] = {}
        self._key_stamp: object = _NOT_LOOKED
        self._scheduler = schedule.Scheduler()
        # `schedule` types intervals as int; it handles fractions of a second (the tests use them).
        every: Callable[[float], schedule.Job] = self._scheduler.every  # type: ignore[assignment]
        every(dispatch_every_s).seconds.do(self._guard, "sync dispatch", self.dispatch_syncs)
        self._scheduler.every(30).seconds.do(self._guard, "key watch", self.release_on_key_change)
        self._lease = timedelta(seconds=runtime.settings.worker_lease_s)
        # Renewed six times per lease: a slow database round trip never lets a live claim lapse.
        every(runtime.settings.worker_lease_s / 6).seconds.do(self._guard, "lease renewal", self.renew_leases)
        self.identity = leases.WorkerIdentity.new()
        self._lock_file: IO[str] | None = None
        steps = steps if steps is not None else default_steps(runtime)
        self._step_pool = ThreadPoolExecutor(max_workers=max(1, len(steps)), thread_name_prefix="step")
        self._steps_running: dict[str, Future] = {}
        for every_s, name, step in steps:
            every(every_s).seconds.do(self._start_step, name, step)
        runtime.mailbox_sync.should_stop = self.stop_event.is_set
        runtime.mailbox_sync.still_leased = lambda account_id: leases.holds_mailbox(
            account_id, self.identity.id, runtime.clock.now()
        )

    def _guard(self, name: str, step: Callable[[], object]) -> None:
        try:
            with database.connection_context():
                step()
        except Exception:  # the loop must outlive any one failure
            log.exception("worker step %r failed; continuing", name)

    def _start_step(self, name: str, step: Callable[[], object]) -> None:
        """Run `step` on its own thread unless its previous run is still going (then skip a tick)."""
        running = self._steps_running.get(name)
        if running is not None and not running.done():
            log.debug("worker step %r still running; skipping this tick", name)
            return
        if not self.stop_event.is_set():
            self._steps_running[name] = self._step_pool.submit(
                self._guard, name, lambda: self._once_in_fleet(name, step)
            )

    def _once_in_fleet(self, name: str, step: Callable[[], object]) -> None:
        """Run a periodic step unless another worker on this database is running it now."""
        if not leases.claim_job(name, self.identity, self.runtime.clock.now(), STEP_LEASE):
            log.debug("worker step %r runs on another worker; skipping this tick", name)
            return
        try:
            step()
        finally:
            leases.release_job(name, self.identity)

    def dispatch_syncs(self) -> None:
        """Start a sync for every due mailbox this worker can claim (none held by another)."""
        self._running = {i: f for i, f in self._running.items() if not f.done()}
        free = self._max_parallel - len(self._running)
        for account_id in mailbox_due_ids(self.runtime.clock.now(), self.runtime.settings.sync_interval_s):
            if free <= 0 or self.stop_event.is_set():
                break
            if account_id in self._running:
                continue
            if leases.claim_mailbox(account_id, self.identity, self.runtime.clock.now(), self._lease):
                self._running[account_id] = self._pool.submit(self._sync, account_id)
                free -= 1

    def renew_leases(self) -> None:
        """Keep the leases of the mailboxes this worker is syncing, and say it is alive."""
        now = self.runtime.clock.now()
        leases.heartbeat(self.identity, now)
        running = [i for i, f in self._running.items() if not f.done()]
        if running:
            lost = set(running) - leases.renew_mailboxes(running, self.identity, now, self._lease)
            if lost:
                log.warning("lost the lease of mailbox(es) %s: their syncs stop at the next page", sorted(lost))

    def _sync(self, account_id: int) -> None:
        try:
            report = self.runtime.mailbox_sync.sync(account_id)
            if report.stored or report.error:
                log.info(
                    "worker %s: %s: %s stored %d skipped %d failed %d%s",
                    self.identity.label,
                    report.address,
                    report.mode,
                    report.stored,
                    report.skipped,
                    report.failed,
                    f" error: {report.error}" if report.error else "",
                )
        except Exception:
            log.exception("sync of mailbox %s crashed; it will be retried", account_id)
        finally:
            try:
                with database.connection_context():
                    leases.release_mailbox(account_id, self.identity, self.runtime.clock.now())
            except Exception:  # the lease expires by itself
                log.exception("could not release the lease of mailbox %s", account_id)
            self._slot_freed.set()

    def release_on_key_change(self) -> None:
        """A new delegation key (or the first one) may fix permanent errors: sync those mailboxes
        at once rather than at their hourly retry."""
        path = self.runtime.settings.dwd_key_file
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp is not None and stamp != self._key_stamp:
            # A changed key releases every mailbox in permanent error; at the first look, those
            # whose error predates the key (saved while the service was stopped).
            failed = EmailAccount.last_error_kind == "permanent"
            if self._key_stamp is _NOT_LOOKED:
                failed &= EmailAccount.last_error_at < datetime.fromtimestamp(stamp[0] / 1e9, UTC)
            released = (
                EmailAccount.update(paused_until=None, sync_requested_at=self.runtime.clock.now())
                .where(failed)
                .execute()
            )
            if released:
                log.info("delegation key changed: retrying %d mailbox(es) in error", released)
        self._key_stamp = stamp

    def register(self) -> None:
        """Take the SQLite worker lock (raises `leases.AnotherWorkerRunning`) and record this
        worker. Called by `run`; callers that must report a refusal call it first."""
        if self._lock_file is None:
            self._lock_file = leases.single_worker_lock()
        with database.connection_context():
            leases.register(self.identity, self.runtime.clock.now())

    def run(self) -> None:
        self.register()
        log.info("worker %s started", self.identity.label)
        try:
            self._scheduler.run_all()
            while not self.stop_event.is_set():
                self._scheduler.run_pending()
                if self._slot_freed.wait(1.0) and not self.stop_event.is_set():
                    self._slot_freed.clear()
                    self._guard("sync dispatch", self.dispatch_syncs)
            log.info("worker stopping: waiting for running syncs to reach a batch boundary")
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._step_pool.shutdown(wait=True, cancel_futures=True)
        finally:
            with database.connection_context():
                leases.unregister(self.identity)
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None
        log.info("worker stopped")

    def start_thread(self) -> threading.Thread:
        self.register()  # a refusal is the caller's to report, not a dead thread's
        thread = threading.Thread(target=self.run, name="worker", daemon=True)
        thread.start()
        return thread

    def run_until_signalled(self) -> None:
        def stop(signum, _frame):
            log.info("signal %s received", signal.Signals(signum).name)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.run()


def default_steps(runtime) -> list[Step]:
    """Periodic steps besides mailbox sync: the digest cycle, every 60 s (it re-reads the policy
    each time, so the admin panel's toggle and hour apply without a restart), the SQLite
    checkpoint, off the sync's write path, and, hourly, the purge of investors and contacts
    deleted more than the grace period ago."""
    from appsrc.crm.record_care import purge_expired
    from appsrc.digest.service import build_digest_service
    from appsrc.store.db import checkpoint

    digest = build_digest_service(runtime)
    return [
        (60, "digest", digest.step),
        (15, "database checkpoint", checkpoint),
        (3600, "purge of deleted records", lambda: purge_expired(runtime.clock.now())),
    ]


def leased_sync_pass(runtime, *, mailbox: str | None = None, full: bool = False) -> tuple[list, list[tuple[str, str]]]:
    """One sync pass outside the worker loop (the CLI's `sync`), leasing each mailbox exactly as
    a worker does, so it never syncs a mailbox beside a running worker's sync of it. Returns the
    reports and the (address, holder) of mailboxes another worker holds, which are left to it."""
    me = leases.WorkerIdentity.new()
    ttl = timedelta(seconds=runtime.settings.worker_lease_s)
    clock = runtime.clock
    with database.connection_context():
        if leases.no_live_worker():  # SQLite, no worker running: a killed earlier pass's leases
            leases.release_orphaned_leases()
        leases.register(me, clock.now())
        targets = runtime.sync_targets(mailbox)
        claimed = [(i, a) for i, a in targets if leases.claim_mailbox(i, me, clock.now(), ttl)]
        holders = leases.worker_labels()
        owners = dict(
            EmailAccount.select(EmailAccount.id, EmailAccount.lease_owner)
            .where(EmailAccount.id.in_([i for i, _ in targets]))
            .tuples()
        )
    busy = [(a, holders.get(owners.get(i) or "", "another worker")) for i, a in targets if (i, a) not in claimed]
    ids = [i for i, _ in claimed]
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl.total_seconds() / 6):
            try:
                with database.connection_context():
                    leases.heartbeat(me, clock.now())
                    leases.renew_mailboxes(ids, me, clock.now(), ttl)
            except Exception:  # a lapsed lease stops the sync at its next page
                log.exception("could not renew the sync pass's leases")

    renewer = threading.Thread(target=renew, name="lease-renewal", daemon=True)
    renewer.start()
    runtime.mailbox_sync.still_leased = lambda account_id: leases.holds_mailbox(account_id, me.id, clock.now())
    try:
        reports = runtime.sync_accounts(ids, full=full)
    finally:
        stop.set()
        renewer.join()
        with database.connection_context():
            leases.unregister(me)
    return reports, busy
