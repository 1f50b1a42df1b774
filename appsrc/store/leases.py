"""Who works on what, when several worker processes share one database.

- **Workers.** Each worker process registers a row (`worker`) with its host and pid and beats
  its heartbeat (the Mailboxes page names who holds what). On SQLite only one worker may run:
  it holds an exclusive lock on a file beside the database, which the operating system releases
  when the process ends however it ends, so a second worker is refused by name and a restart
  after a crash is not.
- **Mailbox leases.** A worker syncs a mailbox only while it holds its lease
  (`email_account.lease_owner`, `lease_expires_at`). A claim is one conditional UPDATE — take
  the mailbox if nobody holds it or the holder's lease expired — so two workers can never both
  win it: PostgreSQL row-locks the row for the statement, SQLite serializes writers. The holder
  renews its leases while it works; a worker killed mid-sync stops renewing, its leases expire,
  and another worker continues from the saved cursor or page token.
- **Named leases** (`job_lease`) do the same for jobs that must run once across the fleet: the
  digest step and the SQLite checkpoint.
"""

from __future__ import annotations

import fcntl
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from peewee import chunked

from appsrc.store.db import database, is_sqlite
from appsrc.store.models import EmailAccount, JobLease, Worker

LEASE_TTL = timedelta(seconds=60)  # the default; CRM_WORKER_LEASE_S sets it
HEARTBEAT_STALE = timedelta(seconds=45)  # a worker silent this long is taken for dead


class AnotherWorkerRunning(RuntimeError):
    """A second worker on SQLite: refused, naming the one that runs."""


@dataclass(frozen=True)
class WorkerIdentity:
    id: str
    host: str
    pid: int

    @classmethod
    def new(cls) -> WorkerIdentity:
        return cls(uuid.uuid4().hex, socket.gethostname(), os.getpid())

    @property
    def label(self) -> str:
        return f"{self.host}:{self.pid}"


def single_worker_lock() -> IO[str] | None:
    """On SQLite, the exclusive worker lock (keep the returned file open while working); None on
    PostgreSQL, where any number of workers share the work."""
    if not is_sqlite():
        return None
    path = f"{database.database}.worker-lock"
    # Held open for the worker's lifetime; owner-only like everything else in the data directory.
    handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise AnotherWorkerRunning(
            f"a worker already runs on this SQLite database ({holder}): SQLite takes one worker; "
            "several need PostgreSQL (CRM_DATABASE_URL)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{socket.gethostname()} pid {os.getpid()}\n")
    handle.flush()
    return handle


def register(me: WorkerIdentity, now: datetime) -> None:
    """Record this worker and forget workers silent for long (they died without a goodbye)."""
    with database.atomic():
        Worker.delete().where(Worker.heartbeat_at < now - HEARTBEAT_STALE * 20).execute()
        Worker.insert(id=me.id, host=me.host, pid=me.pid, started_at=now, heartbeat_at=now).on_conflict(
            conflict_target=[Worker.id], update={Worker.heartbeat_at: now}
        ).execute()


def heartbeat(me: WorkerIdentity, now: datetime) -> None:
    Worker.update(heartbeat_at=now).where(Worker.id == me.id).execute()


def unregister(me: WorkerIdentity) -> None:
    """A clean stop: release what this worker holds at once rather than at expiry (its row stays
    a while, so the Mailboxes page can still say who synced a mailbox last)."""
    with database.atomic():
        EmailAccount.update(lease_expires_at=None).where(EmailAccount.lease_owner == me.id).execute()
        JobLease.update(owner=None, expires_at=None).where(JobLease.owner == me.id).execute()


# -- mailbox leases -----------------------------------------------------------------------------
def no_live_worker() -> bool:
    """On SQLite, whether no worker process holds the worker lock at this moment, so any mailbox
    lease still in the database belongs to a process that died (the lock is probed, not kept:
    a worker starting now must not be refused). Always False on PostgreSQL, where a dead
    worker's leases simply expire."""
    try:
        handle = single_worker_lock()
    except AnotherWorkerRunning:
        return False
    if handle is None:
        return False
    handle.close()
    return True


def release_orphaned_leases() -> int:
    """Free the mailbox leases of processes that are gone (on SQLite, called only when
    `no_live_worker()`, so no worker holds any). A lease whose owner still runs here keeps it:
    another CLI sync pass started at the same moment. SQLite's file is on this machine, so an
    owner registered under another host name ran here before a rename (a new container) and is
    gone. A pid the system reused since is left to expiry. Returns how many leases were freed."""
    running_here = {
        owner
        for owner, pid in Worker.select(Worker.id, Worker.pid).where(Worker.host == socket.gethostname()).tuples()
        if _process_alive(pid)
    }
    held = EmailAccount.select(EmailAccount.id, EmailAccount.lease_owner).where(
        EmailAccount.lease_expires_at.is_null(False)
    )
    gone = [account_id for account_id, owner in held.tuples() if owner not in running_here]
    for chunk in chunked(gone, 500):
        EmailAccount.update(lease_expires_at=None).where(EmailAccount.id.in_(chunk)).execute()
    return len(gone)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def claim_mailbox(account_id: int, me: WorkerIdentity, now: datetime, ttl: timedelta = LEASE_TTL) -> bool:
    """Take this mailbox's lease if it is free, expired or already ours."""
    with database.atomic():
        taken = (
            EmailAccount.update(lease_owner=me.id, lease_expires_at=now + ttl)
            .where(
                (EmailAccount.id == account_id)
                & (
                    EmailAccount.lease_owner.is_null()
                    | (EmailAccount.lease_owner == me.id)
                    | EmailAccount.lease_expires_at.is_null()
                    | (EmailAccount.lease_expires_at < now)
                )
            )
            .execute()
        )
    return taken == 1


def renew_mailboxes(
    account_ids: Sequence[int], me: WorkerIdentity, now: datetime, ttl: timedelta = LEASE_TTL
) -> set[int]:
    """Extend the leases this worker still holds among `account_ids`; returns those it holds."""
    held: set[int] = set()
    for chunk in chunked(sorted(set(account_ids)), 500):
        with database.atomic():
            EmailAccount.update(lease_expires_at=now + ttl).where(
                EmailAccount.id.in_(chunk) & (EmailAccount.lease_owner == me.id)
            ).execute()
            held.update(
                i
                for (i,) in EmailAccount.select(EmailAccount.id)
                .where(EmailAccount.id.in_(chunk) & (EmailAccount.lease_owner == me.id))
                .tuples()
            )
    return held


def holds_mailbox(account_id: int, owner_id: str, now: datetime) -> bool:
    return (
        EmailAccount.select()
        .where(
            (EmailAccount.id == account_id)
            & (EmailAccount.lease_owner == owner_id)
            & (EmailAccount.lease_expires_at >= now)
        )
        .exists()
    )


def release_mailbox(account_id: int, me: WorkerIdentity, now: datetime) -> None:
    """Free the mailbox for any worker; the owner stays named, for "last synced by"."""
    EmailAccount.update(lease_expires_at=now).where(
        (EmailAccount.id == account_id) & (EmailAccount.lease_owner == me.id)
    ).execute()


# -- named leases ---------------------------------------------------------------------------------
def claim_job(name: str, me: WorkerIdentity, now: datetime, ttl: timedelta = LEASE_TTL) -> bool:
    """Take the named job's lease (a fleet-wide "only one of us runs this now")."""
    with database.atomic():
        JobLease.insert(name=name, owner=None, expires_at=None).on_conflict_ignore().execute()
        taken = (
            JobLease.update(owner=me.id, expires_at=now + ttl)
            .where(
                (JobLease.name == name)
                & (JobLease.owner.is_null() | (JobLease.owner == me.id) | (JobLease.expires_at < now))
            )
            .execute()
        )
    return taken == 1


def release_job(name: str, me: WorkerIdentity) -> None:
    JobLease.update(owner=None, expires_at=None).where((JobLease.name == name) & (JobLease.owner == me.id)).execute()


def worker_labels() -> dict[str, str]:
    """Worker id -> "host:pid", for naming who syncs a mailbox (the Mailboxes page)."""
    return {
        worker_id: f"{host}:{pid}"
        for worker_id, host, pid in Worker.select(Worker.id, Worker.host, Worker.pid).tuples()
    }
