"""The appliance wired together from settings: the one place real adapters are constructed.

`cli.py` and `web.app.create_app` call `build_runtime`; everything below receives the pieces it
needs from here (database, clock, delegation credentials, the Gmail remotes, the directory).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appsrc.capture.sync import MailboxSync, SyncReport
from appsrc.clock import Clock, SystemClock
from appsrc.crm.directory import load_directory, own_domains
from appsrc.gmail.client import GmailRemotes
from appsrc.gmail.credentials import DelegatedCredentials
from appsrc.matching.matcher import Directory
from appsrc.settings import Settings

if TYPE_CHECKING:
    from peewee import Database

    from appsrc.demo import DemoEnvironment
from appsrc.store.db import is_sqlite, open_database
from appsrc.store.migrations import migrate
from appsrc.store.models import EmailAccount
from appsrc.store.queries.cache import use_clock
from appsrc.store.queries.mailboxes import capturing_mailboxes

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    db: Database
    credentials: DelegatedCredentials
    remotes: GmailRemotes
    demo: DemoEnvironment | None = None  # the running demo environment, when in demo mode
    _sync: MailboxSync | None = field(default=None, repr=False)

    def directory(self) -> Directory:
        return load_directory(self.settings.own_domains, self.settings.secrets_dir)

    def own_domains(self) -> tuple[str, ...]:
        """The fund's own domains alone, without loading the whole directory."""
        return own_domains(self.settings.own_domains, self.settings.secrets_dir)

    @property
    def mailbox_sync(self) -> MailboxSync:
        if self._sync is None:
            self._sync = MailboxSync(self.remotes, self.clock, self.directory)
        return self._sync

    def sync_all(self, *, mailbox: str | None = None, full: bool = False, max_workers: int = 8) -> list[SyncReport]:
        """One pass over every enabled mailbox (or one), mailboxes in parallel threads."""
        return self.sync_accounts([i for i, _ in self.sync_targets(mailbox)], full=full, max_workers=max_workers)

    def sync_targets(self, mailbox: str | None = None) -> list[tuple[int, str]]:
        """(id, address) of the mailboxes a pass syncs: every capturing one, or the one named."""
        query = capturing_mailboxes()
        if mailbox:
            query = EmailAccount.select(EmailAccount.id, EmailAccount.address).where(
                EmailAccount.address == mailbox.strip().lower()
            )
        return list(query.order_by(EmailAccount.address).tuples())

    def sync_accounts(self, account_ids: list[int], *, full: bool = False, max_workers: int = 8) -> list[SyncReport]:
        if not account_ids:
            return []
        with ThreadPoolExecutor(max_workers=min(max_workers, len(account_ids)), thread_name_prefix="sync") as pool:
            return list(pool.map(lambda account_id: self.mailbox_sync.sync(account_id, full=full), account_ids))

    def close(self) -> None:
        if self.demo is not None:
            self.demo.stop()
        if not self.db.is_closed():
            self.db.close()


def is_demo(settings: Settings) -> bool:
    return settings.demo == "on" or (settings.demo == "auto" and not settings.dwd_key_file.is_file())


def build_runtime(
    settings: Settings, clock: Clock | None = None, *, run_migrations: bool = True, allow_demo: bool = True
) -> Runtime:
    """Open the database (migrating it), then wire delegation and the Gmail remotes.

    In demo mode (CRM_DEMO=on, or auto with no delegation key) the bundled Gmail simulator is
    started and the settings are pointed at it: the only difference from production is
    configuration, as with the tests.
    """
    clock = clock or SystemClock()
    in_demo = allow_demo and is_demo(settings)
    if in_demo:
        from appsrc.demo import demo_settings, reset_demo_dir

        settings = demo_settings(settings)
        reset_demo_dir(settings)
    db = open_database(settings.database_url)
    if run_migrations or in_demo:
        applied = migrate(db)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
    demo = None
    if in_demo:
        from appsrc.demo import start_demo

        demo, settings = start_demo(settings, clock)
    use_clock(clock)  # the read models' cache expires on the appliance's clock
    credentials = DelegatedCredentials(settings.dwd_key_file, clock)
    project_bucket = None
    project_units_per_s = settings.gmail_project_quota / 60
    if not is_sqlite():  # several worker processes may share this database: one project quota
        from appsrc.store.quota import SharedTokenBucket

        rate = project_units_per_s * settings.sync_quota_fraction
        project_bucket = SharedTokenBucket("gmail-project", rate, rate, clock)
    remotes = GmailRemotes(
        credentials,
        settings.gmail_api_endpoint,
        clock,
        quota_fraction=settings.sync_quota_fraction,
        project_bucket=project_bucket,
        project_units_per_s=project_units_per_s,
    )
    return Runtime(settings, clock, db, credentials, remotes, demo)
