"""Demo mode: the real appliance against the bundled Gmail simulator and a generated team.

Nothing in the capture path knows it is a demo: the settings point the Gmail endpoint and the
key file's token_uri at the simulator, exactly as the tests do. The demo keeps its own database
(`$CRM_DATA_DIR/demo/crm.sqlite3`, fresh on every start) so it never mixes with real data.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from appsrc.clock import Clock
from appsrc.matching.matcher import Directory
from appsrc.settings import Settings

if TYPE_CHECKING:  # the simulator is imported only when demo mode starts
    from appsrc.simulator import GmailSimulator, LlmStub, TeamDataset

log = logging.getLogger(__name__)

DEMO_TEAM_SIZE = 5
DEMO_INVESTORS = 24
DEMO_MESSAGES_PER_MAILBOX = 400
# What a fund's admins typically exclude, so the Exclusions page has something to show: a
# teammate's personal correspondence and a vendor's domain (the office landlord's mail is in the
# generated dataset, so the demo's mailbox counters show it skipped as excluded).
DEMO_EXCLUSIONS = (
    ("dr.hale@clinic.example", "Personal: a teammate's doctor"),
    ("officespace.example", "Vendor: the office landlord (leases and invoices, not investor mail)"),
)


@dataclass
class DemoEnvironment:
    simulator: GmailSimulator
    dataset: TeamDataset
    llm: LlmStub | None
    admin_email: str
    admin_password: str

    def stop(self) -> None:
        if self.llm is not None:
            self.llm.stop()
        self.simulator.stop()


def demo_settings(settings: Settings) -> Settings:
    """Where the demo keeps its files: a database of its own, fresh on each start."""
    demo_dir = settings.data_dir / "demo"
    return settings.replace(
        database_url=f"sqlite:///{demo_dir / 'crm.sqlite3'}", dwd_key_file=demo_dir / "service_account.json"
    )


def reset_demo_dir(settings: Settings) -> None:
    demo_dir = settings.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    demo_dir.mkdir(parents=True, mode=0o700)


def start_demo(settings: Settings, clock: Clock) -> tuple[DemoEnvironment, Settings]:
    """Start the simulator with a generated team, seed users and investors, and return the
    settings that point the appliance at it. The database must already be open and migrated."""
    from appsrc.crm.directory import load_directory
    from appsrc.crm.exclusions import add_exclusion
    from appsrc.crm.investors import import_investors_csv
    from appsrc.crm.users import add_user
    from appsrc.simulator import GmailSimulator, LlmStub, generate_team

    dataset = generate_team(
        7,
        team_size=DEMO_TEAM_SIZE,
        investors=DEMO_INVESTORS,
        messages_per_mailbox=DEMO_MESSAGES_PER_MAILBOX,
        now=clock.now(),
    )
    simulator = GmailSimulator().start()
    simulator.configure(latency_s=0.01)
    dataset.load_into(simulator)
    simulator.make_service_account_key(str(settings.dwd_key_file))
    llm: LlmStub | None = None
    if settings.llm_url is None:
        llm = LlmStub().start()
    settings = settings.replace(
        gmail_api_endpoint=simulator.url,
        own_domains=tuple(dataset.own_domains),
        llm_url=settings.llm_url or (llm.url.rstrip("/") if llm else None),
    )

    now = clock.now()
    team = list(dataset.team)
    password = secrets.token_urlsafe(12)
    admin = add_user(team[0].address, team[0].name, now, is_admin=True, password=password, actor_label="demo")
    for member in team[1:]:
        add_user(member.address, member.name, now, actor_label="demo")

    def directory():
        return load_directory(settings.own_domains, settings.secrets_dir)

    import_investors_csv(dataset.investors_csv(), now, directory=directory, actor_label="demo")
    for value, reason in DEMO_EXCLUSIONS:
        add_exclusion(
            value, now, reason=reason, actor=admin, actor_label="demo", own_domains=frozenset(dataset.own_domains)
        )
    password_file = settings.data_dir / "demo" / "admin_password"
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    log.warning(
        "DEMO MODE: Gmail simulator at %s with %d team mailboxes. Dashboard login: %s / %s "
        "(also in %s). Configure delegation to leave demo mode.",
        simulator.url,
        len(team),
        admin.email,
        password,
        password_file,
    )
    threading.Thread(
        target=_decide_some_proposals, args=(admin.id, clock, directory), name="demo-decisions", daemon=True
    ).start()
    return DemoEnvironment(simulator, dataset, llm, admin.email, password), settings


def _decide_some_proposals(
    admin_id: int, clock: Clock, directory: Callable[[], Directory], *, timeout_s: float = 300.0
) -> None:
    """Once the first backfill has proposed activities, approve about a quarter of the older
    ones and reject a few, as the demo admin: contact timelines and the approvals chart then have
    something to show, and most of the queue is left to try. Demo mode only."""
    import time

    from appsrc.crm.proposals import approve, reject
    from appsrc.crm.validation import ValidationError
    from appsrc.store.db import database
    from appsrc.store.models import ActivityProposal, Email, EmailAccount, User

    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            time.sleep(3)
            with database.connection_context():
                accounts = list(EmailAccount.select(EmailAccount.backfill_state).tuples())
                if not accounts or any(state != "done" for (state,) in accounts):
                    continue
                admin = User.get_by_id(admin_id)
                cutoff = clock.now() - timedelta(days=21)
                older = [
                    p
                    for (p,) in ActivityProposal.select(ActivityProposal.id)
                    .join(Email)
                    .where(
                        (ActivityProposal.status == "pending")
                        & (Email.sent_at < cutoff)
                        & ActivityProposal.contact.is_null(False)
                    )
                    .order_by(Email.sent_at)
                    .tuples()
                ]
                for i, proposal_id in enumerate(older[::4]):
                    try:
                        if i % 9 == 8:
                            reject(proposal_id, admin, clock.now(), actor_label="demo")
                        else:
                            approve(proposal_id, admin, clock.now(), directory=directory, actor_label="demo")
                    except ValidationError:
                        continue
                log.info("demo: decided %d of %d older proposals to fill timelines", len(older[::4]), len(older))
                return
    except Exception:  # a demo nicety must never take the appliance down
        log.exception("demo: could not pre-decide proposals")
