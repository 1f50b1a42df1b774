"""The live Peewee models: the whole data model of the appliance.

The schema itself is owned by the numbered migrations in `store/migrations/`; these classes
must match what the latest migration builds (a test compares them). Foreign keys marked
`index=False` are covered by a composite index that starts with them. Datetimes are aware UTC.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from appsrc.store.db import database
from appsrc.store.fields import JSONField, UTCDateTimeField


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class User(BaseModel):
    """A team member. Admins use the dashboard and are the only digest recipients."""

    id = AutoField()
    email = CharField(unique=True)  # lower-case
    name = CharField(default="")
    is_admin = BooleanField(default=False)
    is_active = BooleanField(default=True)
    password_hash = CharField(null=True)
    session_version = IntegerField(default=0)  # raised to end every session (m0011)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()


class ApiToken(BaseModel):
    """A Bearer token for scripts; only its SHA-256 is stored."""

    id = AutoField()
    user = ForeignKeyField(User, backref="api_tokens", on_delete="CASCADE")
    token_hash = CharField(unique=True)
    label = CharField(default="")
    created_at = UTCDateTimeField()
    last_used_at = UTCDateTimeField(null=True)
    revoked_at = UTCDateTimeField(null=True)


class EmailAccount(BaseModel):
    """A team mailbox captured through delegation, with its explicit sync state (lieer-style).

    `history_id` is the incremental cursor: written only together with the last data it covers.
    A backfill lists pages from `backfill_page_token`; `backfill_history_id` is the cursor taken
    from getProfile *before* listing started, promoted to `history_id` when the listing ends.
    `sync_generation` numbers full listings so a resync can tell which sightings it saw again.
    """

    id = AutoField()
    user = ForeignKeyField(User, backref="mailboxes", null=True, on_delete="SET NULL")
    address = CharField(unique=True)  # lower-case
    sync_enabled = BooleanField(default=True)
    history_id = CharField(null=True)
    backfill_state = CharField(default="pending")  # pending | running | done
    backfill_page_token = TextField(null=True)
    backfill_history_id = CharField(null=True)
    backfill_listed = IntegerField(default=0)
    backfill_started_at = UTCDateTimeField(null=True)
    backfill_finished_at = UTCDateTimeField(null=True)
    sync_generation = IntegerField(default=0)
    messages_total = IntegerField(null=True)  # getProfile's estimate, for the progress bar
    stored_count = IntegerField(default=0)
    skipped_count = IntegerField(default=0)
    failed_count = IntegerField(default=0)
    full_resyncs = IntegerField(default=0)
    last_sync_at = UTCDateTimeField(null=True)
    last_success_at = UTCDateTimeField(null=True)
    last_error = TextField(null=True)
    last_error_kind = CharField(null=True)  # transient | permanent
    last_error_fix = TextField(null=True)
    last_error_at = UTCDateTimeField(null=True)
    paused_until = UTCDateTimeField(null=True)  # Gmail's "Retry after"
    sync_requested_at = UTCDateTimeField(null=True)  # "sync now" from the dashboard
    paused_at = UTCDateTimeField(null=True)  # paused by an admin: no Gmail calls (m0013)
    removed_at = UTCDateTimeField(null=True)  # removed by an admin: sightings deleted (m0013)
    created_at = UTCDateTimeField()
    lease_owner = CharField(null=True)  # the worker syncing it now (m0016; store/leases.py)
    lease_expires_at = UTCDateTimeField(null=True)


class Email(BaseModel):
    """One real email, however many team mailboxes hold it. No `deleted_at`: liveness is per
    sighting. `dedupe_key` is the normalized Message-ID, or a content fingerprint when the header
    is missing or shared by a different email."""

    id = AutoField()
    dedupe_key = CharField(unique=True)
    fingerprint = CharField(default="")  # the Date header, to tell apart two emails sharing a Message-ID
    message_id = TextField(null=True)
    # The conversation: its root's key, from References / In-Reply-To (m0017). Gmail's thread
    # ids are per mailbox; this one is the same in every mailbox, so the fund sees one thread.
    thread_key = CharField(default="", index=True)
    subject = TextField(default="")
    from_email = CharField(default="")
    from_name = CharField(default="")
    reply_to = JSONField(default=list)  # [{"email", "name"}]
    to = JSONField(default=list)
    cc = JSONField(default=list)
    in_reply_to = TextField(null=True)
    references = JSONField(default=list)
    sent_at = UTCDateTimeField(index=True)
    snippet = TextField(default="")
    body_text = TextField(default="")
    body_truncated = BooleanField(default=False)
    has_attachments = BooleanField(default=False)
    attachments = JSONField(default=list)  # [{"filename", "content_type", "size"}]
    size = BigIntegerField(default=0)
    is_bulk = BooleanField(default=False)
    bulk_reason = CharField(null=True)
    captured_at = UTCDateTimeField()


class EmailParticipant(BaseModel):
    """Every address on an email, so rematching and per-contact views are index lookups."""

    id = AutoField()
    email = ForeignKeyField(Email, backref="participants", on_delete="CASCADE", index=False)
    address = CharField()
    match_key = CharField(index=True)  # matcher.match_key(address): how contacts are found
    domain = CharField()
    role = CharField()  # from | to | cc | bcc | reply_to

    class Meta:
        indexes = ((("email", "address", "role"), True),)


class EmailAccountMessage(BaseModel):
    """A sighting: one email as held by one mailbox, with that mailbox's Gmail ids and labels."""

    id = AutoField()
    account = ForeignKeyField(EmailAccount, backref="sightings", on_delete="CASCADE", index=False)
    email = ForeignKeyField(Email, backref="sightings", on_delete="CASCADE", index=False)
    gmail_id = CharField()
    gmail_thread_id = CharField(default="")
    label_ids = JSONField(default=list)
    is_sent = BooleanField(default=False)
    internal_date = UTCDateTimeField(null=True)
    deleted_at = UTCDateTimeField(null=True)
    seen_generation = IntegerField(default=0)
    created_at = UTCDateTimeField()

    class Meta:
        indexes = ((("account", "gmail_id"), True),)


class BareSighting(BaseModel):
    """An external email outside the capture scope, as one mailbox holds it: who and when, never
    what (no subject, body, snippet or attachment names). Never shown in search; kept so that a
    later investor or contact can find it and have it fetched again in full (m0013)."""

    id = AutoField()
    account = ForeignKeyField(EmailAccount, backref="bare_sightings", on_delete="CASCADE", index=False)
    gmail_id = CharField()
    gmail_thread_id = CharField(default="")
    sent_at = UTCDateTimeField()
    seen_generation = IntegerField(default=0)
    refetch_requested_at = UTCDateTimeField(null=True)  # queued for the worker (partial index)
    created_at = UTCDateTimeField()

    class Meta:
        indexes = ((("account", "gmail_id"), True),)


class BareParticipant(BaseModel):
    """Every address on a bare sighting, indexed like `EmailParticipant` for the rematch."""

    id = AutoField()
    sighting = ForeignKeyField(BareSighting, backref="participants", on_delete="CASCADE", index=False)
    address = CharField()
    match_key = CharField(index=True)
    domain = CharField(index=True)
    role = CharField()

    class Meta:
        indexes = ((("sighting", "address", "role"), True),)


class SkippedMessage(BaseModel):
    """A Gmail message deliberately not stored, and why: nothing is dropped silently."""

    id = AutoField()
    account = ForeignKeyField(EmailAccount, backref="skipped", on_delete="CASCADE", index=False)
    gmail_id = CharField()
    reason = CharField(index=True)  # internal | excluded | unparseable | spam_trash_chat | gone
    detail = TextField(default="")
    seen_generation = IntegerField(default=0)
    created_at = UTCDateTimeField()

    class Meta:
        indexes = ((("account", "gmail_id"), True),)


class PendingFetch(BaseModel):
    """A listed message whose fetch failed; retried on later cycles so the cursor never stalls."""

    id = AutoField()
    account = ForeignKeyField(EmailAccount, backref="pending_fetches", on_delete="CASCADE")
    gmail_id = CharField()
    attempts = IntegerField(default=0)
    last_error = TextField(default="")
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()

    class Meta:
        indexes = ((("account", "gmail_id"), True),)


class Investor(BaseModel):
    """An LP. Graveyard investors are hidden from pickers, never from history."""

    id = AutoField()
    name = CharField(unique=True)
    graveyard = BooleanField(default=False)
    graveyard_since = UTCDateTimeField(null=True)  # set with `graveyard`; mail after it is news
    notes = TextField(default="")
    deleted_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()
    # Merged into another investor: kept, deleted, as a pointer to the survivor (m0015).
    merged_into = ForeignKeyField("self", null=True, on_delete="SET NULL", index=False)


class InvestorDomain(BaseModel):
    id = AutoField()
    investor = ForeignKeyField(Investor, backref="domain_rows", on_delete="CASCADE")
    domain = CharField(unique=True)


class Contact(BaseModel):
    id = AutoField()
    investor = ForeignKeyField(Investor, backref="contacts", on_delete="CASCADE")
    name = CharField(default="")
    deleted_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()
    merged_into = ForeignKeyField("self", null=True, on_delete="SET NULL", index=False)  # m0015


class ContactMove(BaseModel):
    """A contact who changed firms: mail sent before `since` stays with `from_investor` (m0015)."""

    id = AutoField()
    contact = ForeignKeyField(Contact, backref="moves", on_delete="CASCADE")
    from_investor = ForeignKeyField(Investor, on_delete="CASCADE")
    to_investor = ForeignKeyField(Investor, on_delete="CASCADE")
    since = UTCDateTimeField()
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = UTCDateTimeField()


class ContactEmail(BaseModel):
    id = AutoField()
    contact = ForeignKeyField(Contact, backref="addresses", on_delete="CASCADE")
    address = CharField(unique=True)


class EmailInvestorLink(BaseModel):
    """Which investors an email concerns (email-level, derived by the matcher)."""

    id = AutoField()
    email = ForeignKeyField(Email, backref="investor_links", on_delete="CASCADE", index=False)
    investor = ForeignKeyField(Investor, backref="email_links", on_delete="CASCADE", index=False)
    # Searched by contact (the activity search's contact filter): a partial index on the links
    # that name one (migration 0018), declared there rather than here.
    contact = ForeignKeyField(Contact, null=True, on_delete="SET NULL", index=False)
    matched_address = CharField()

    class Meta:
        indexes = ((("email", "investor"), True), (("investor", "email"), False))


class ActivityProposal(BaseModel):
    """A proposed CRM activity; only approving it writes to the contact record.

    One per (email, `target_key`) where the key is `contact:<id>` or `address:<addr>` (an
    unknown sender at an investor's domain), however many mailboxes saw the email.
    """

    id = AutoField()
    email = ForeignKeyField(Email, backref="proposals", on_delete="CASCADE", index=False)
    investor = ForeignKeyField(Investor, backref="proposals", on_delete="CASCADE")
    contact = ForeignKeyField(Contact, null=True, on_delete="SET NULL", index=False)  # as on the link
    address = CharField()
    target_key = CharField()
    kind = CharField(default="email")
    status = CharField(default="pending")  # pending | approved | rejected; indexed with investor (0002)
    created_at = UTCDateTimeField()
    decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    decided_at = UTCDateTimeField(null=True)
    decision_id = CharField(null=True, index=True)  # the action (one bulk decision) that decided it (m0014)

    class Meta:
        indexes = ((("email", "target_key"), True),)


class Activity(BaseModel):
    """A CRM activity on a contact's record, created only by approving a proposal."""

    id = AutoField()
    contact = ForeignKeyField(Contact, backref="activities", on_delete="CASCADE")
    investor = ForeignKeyField(Investor, backref="activities", on_delete="CASCADE")
    email = ForeignKeyField(Email, null=True, on_delete="SET NULL")
    proposal = ForeignKeyField(ActivityProposal, null=True, unique=True, on_delete="SET NULL")
    kind = CharField(default="email")
    direction = CharField(default="")  # inbound | outbound
    summary = TextField(default="")
    occurred_at = UTCDateTimeField(index=True)
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = UTCDateTimeField()
    note = TextField(default="")  # an admin's note (m0014)
    edited_at = UTCDateTimeField(null=True)  # last corrected (m0014; the audit log has the changes)


class AppSetting(BaseModel):
    key = CharField(primary_key=True)
    value = JSONField(null=True)
    updated_at = UTCDateTimeField()


class Draft(BaseModel):
    """A reply saved as a Gmail draft (never sent by the appliance)."""

    id = AutoField()
    email = ForeignKeyField(Email, backref="drafts", on_delete="CASCADE")
    account = ForeignKeyField(EmailAccount, backref="drafts", on_delete="CASCADE")
    gmail_draft_id = CharField()
    gmail_thread_id = CharField(default="")
    to = JSONField(default=list)
    cc = JSONField(default=list)
    subject = TextField(default="")
    body_source = CharField(default="admin")  # admin | llm
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = UTCDateTimeField()


class DigestRun(BaseModel):
    """Every digest attempt, recorded before sending so a crash leaves evidence, not a guess."""

    id = AutoField()
    kind = CharField()  # scheduled | send-now | test
    local_date = CharField(null=True, index=True)  # the fund's local day a scheduled run covers
    window_start = UTCDateTimeField(null=True)
    window_end = UTCDateTimeField(null=True)
    recipients = JSONField(default=list)
    subject = TextField(default="")
    message_id = CharField(null=True)  # the digest's Message-ID, the same on every transport (0009)
    transport = CharField(null=True)  # gmail | smtp
    status = CharField(default="pending")  # pending | sent | failed | unconfirmed | interrupted
    error = TextField(null=True)  # sanitized
    error_kind = CharField(null=True)  # transient | permanent | ambiguous (see migration 0004)
    requested_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = UTCDateTimeField()
    finished_at = UTCDateTimeField(null=True)


class Worker(BaseModel):
    """A running worker process; several share a PostgreSQL database (m0016)."""

    id = CharField(primary_key=True)
    host = CharField()
    pid = IntegerField()
    started_at = UTCDateTimeField()
    heartbeat_at = UTCDateTimeField()


class JobLease(BaseModel):
    """A fleet-wide job only one worker runs at a time, such as the digest step (m0016)."""

    name = CharField(primary_key=True)
    owner = CharField(null=True)
    expires_at = UTCDateTimeField(null=True)


class QuotaBucket(BaseModel):
    """Gmail's project-wide quota, one token bucket every worker process draws from (m0016)."""

    name = CharField(primary_key=True)
    tokens = DoubleField()
    updated_at = UTCDateTimeField()


class AuditEvent(BaseModel):
    id = AutoField()
    actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
    actor_label = CharField(default="")  # e.g. "cli", "startos-action", or the user's email
    action = CharField(index=True)
    target_type = CharField(default="")
    target_id = CharField(default="")
    detail = JSONField(default=dict)
    created_at = UTCDateTimeField(index=True)


class Exclusion(BaseModel):
    """An address or a whole domain whose mail is never captured (privacy)."""

    id = AutoField()
    value = CharField(unique=True)  # lower-case address, or a domain
    kind = CharField()  # address | domain
    reason = TextField(default="")
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = UTCDateTimeField()


class MemberExclusion(BaseModel):
    """An address or domain a team member keeps out of their own mailbox's capture. Only they
    see its value; the audit log records that one was added, never what."""

    id = AutoField()
    user = ForeignKeyField(User, backref="member_exclusions", on_delete="CASCADE", index=False)
    value = CharField()  # lower-case address, or a domain
    kind = CharField()  # address | domain
    created_at = UTCDateTimeField()

    class Meta:
        indexes = ((("user", "value"), True),)


class AwaitingMark(BaseModel):
    """An admin's mark on a conversation waiting on the fund's reply (m0019, m0021; see
    `store/queries/awaiting.py`): handled, or snoozed until a day, either one covering the
    conversation through its newest inbound message at the time of marking."""

    id = AutoField()
    thread_key = CharField(unique=True)
    state = CharField()  # handled | snoozed
    email = ForeignKeyField(Email, null=True, on_delete="SET NULL", index=False)  # the email marked
    covers_through = UTCDateTimeField(null=True)  # a newer inbound message reopens the case
    snoozed_until = UTCDateTimeField(null=True)  # the chosen day's local midnight
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    created_at = UTCDateTimeField()


ALL_MODELS = (
    User,
    ApiToken,
    EmailAccount,
    Email,
    EmailParticipant,
    EmailAccountMessage,
    BareSighting,
    BareParticipant,
    SkippedMessage,
    PendingFetch,
    Investor,
    InvestorDomain,
    Contact,
    ContactEmail,
    ContactMove,
    EmailInvestorLink,
    ActivityProposal,
    Activity,
    AppSetting,
    Draft,
    DigestRun,
    AuditEvent,
    Exclusion,
    MemberExclusion,
    Worker,
    JobLease,
    QuotaBucket,
    AwaitingMark,
)
