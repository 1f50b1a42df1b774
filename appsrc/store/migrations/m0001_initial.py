"""0001: the initial schema, frozen as it was when this migration was written.

Full-text search over subject, snippet and sender: an FTS5 external-content table kept in
sync by triggers on SQLite; a GIN expression index on PostgreSQL.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    ForeignKeyField,
    IntegerField,
    Model,
    PostgresqlDatabase,
    TextField,
)

from appsrc.store.fields import JSONField, UTCDateTimeField


class BaseModel(Model):
    class Meta:
        legacy_table_names = False


class User(BaseModel):
    id = AutoField()
    email = CharField(unique=True)  # lower-case
    name = CharField(default="")
    is_admin = BooleanField(default=False)
    is_active = BooleanField(default=True)
    password_hash = CharField(null=True)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()


class ApiToken(BaseModel):
    id = AutoField()
    user = ForeignKeyField(User, backref="api_tokens", on_delete="CASCADE")
    token_hash = CharField(unique=True)
    label = CharField(default="")
    created_at = UTCDateTimeField()
    last_used_at = UTCDateTimeField(null=True)
    revoked_at = UTCDateTimeField(null=True)


class EmailAccount(BaseModel):
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
    created_at = UTCDateTimeField()


class Email(BaseModel):
    id = AutoField()
    dedupe_key = CharField(unique=True)
    fingerprint = CharField(default="")  # the Date header, to tell apart two emails sharing a Message-ID
    message_id = TextField(null=True, index=True)
    subject = TextField(default="")
    from_email = CharField(default="", index=True)
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
    id = AutoField()
    email = ForeignKeyField(Email, backref="participants", on_delete="CASCADE")
    address = CharField()
    match_key = CharField(index=True)  # matcher.match_key(address): how contacts are found
    domain = CharField(index=True)
    role = CharField()  # from | to | cc | bcc | reply_to

    class Meta:
        indexes = ((("email", "address", "role"), True),)


class EmailAccountMessage(BaseModel):
    id = AutoField()
    account = ForeignKeyField(EmailAccount, backref="sightings", on_delete="CASCADE")
    email = ForeignKeyField(Email, backref="sightings", on_delete="CASCADE")
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


class SkippedMessage(BaseModel):
    id = AutoField()
    account = ForeignKeyField(EmailAccount, backref="skipped", on_delete="CASCADE")
    gmail_id = CharField()
    reason = CharField(index=True)  # internal | excluded | unparseable | spam_trash_chat | gone
    detail = TextField(default="")
    seen_generation = IntegerField(default=0)
    created_at = UTCDateTimeField()

    class Meta:
        indexes = ((("account", "gmail_id"), True),)


class PendingFetch(BaseModel):
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
    id = AutoField()
    name = CharField(unique=True)
    graveyard = BooleanField(default=False)
    notes = TextField(default="")
    deleted_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()


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


class ContactEmail(BaseModel):
    id = AutoField()
    contact = ForeignKeyField(Contact, backref="addresses", on_delete="CASCADE")
    address = CharField(unique=True)


class EmailInvestorLink(BaseModel):
    id = AutoField()
    email = ForeignKeyField(Email, backref="investor_links", on_delete="CASCADE")
    investor = ForeignKeyField(Investor, backref="email_links", on_delete="CASCADE")
    contact = ForeignKeyField(Contact, null=True, on_delete="SET NULL")
    matched_address = CharField()

    class Meta:
        indexes = ((("email", "investor"), True), (("investor", "email"), False))


class ActivityProposal(BaseModel):
    id = AutoField()
    email = ForeignKeyField(Email, backref="proposals", on_delete="CASCADE")
    investor = ForeignKeyField(Investor, backref="proposals", on_delete="CASCADE")
    contact = ForeignKeyField(Contact, null=True, on_delete="SET NULL")
    address = CharField()
    target_key = CharField()
    kind = CharField(default="email")
    status = CharField(default="pending", index=True)  # pending | approved | rejected
    created_at = UTCDateTimeField()
    decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    decided_at = UTCDateTimeField(null=True)

    class Meta:
        indexes = ((("email", "target_key"), True),)


class Activity(BaseModel):
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


class AppSetting(BaseModel):
    key = CharField(primary_key=True)
    value = JSONField(null=True)
    updated_at = UTCDateTimeField()


class Draft(BaseModel):
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
    id = AutoField()
    kind = CharField()  # scheduled | send-now | test
    local_date = CharField(null=True, index=True)  # the fund's local day a scheduled run covers
    window_start = UTCDateTimeField(null=True)
    window_end = UTCDateTimeField(null=True)
    recipients = JSONField(default=list)
    subject = TextField(default="")
    transport = CharField(null=True)  # gmail | smtp
    status = CharField(default="pending")  # pending | sent | failed
    error = TextField(null=True)  # sanitized
    requested_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = UTCDateTimeField()
    finished_at = UTCDateTimeField(null=True)


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
    id = AutoField()
    value = CharField(unique=True)  # lower-case address, or a domain
    kind = CharField()  # address | domain
    reason = TextField(default="")
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = UTCDateTimeField()


MODELS = (
    User,
    ApiToken,
    EmailAccount,
    Email,
    EmailParticipant,
    EmailAccountMessage,
    SkippedMessage,
    PendingFetch,
    Investor,
    InvestorDomain,
    Contact,
    ContactEmail,
    EmailInvestorLink,
    ActivityProposal,
    Activity,
    AppSetting,
    Draft,
    DigestRun,
    AuditEvent,
    Exclusion,
)


SQLITE_FTS = (
    "CREATE VIRTUAL TABLE email_fts USING fts5("
    "subject, snippet, from_name, from_email, content='email', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER email_fts_insert AFTER INSERT ON email BEGIN "
    "INSERT INTO email_fts(rowid, subject, snippet, from_name, from_email) "
    "VALUES (new.id, new.subject, new.snippet, new.from_name, new.from_email); END",
    "CREATE TRIGGER email_fts_delete AFTER DELETE ON email BEGIN "
    "INSERT INTO email_fts(email_fts, rowid, subject, snippet, from_name, from_email) "
    "VALUES ('delete', old.id, old.subject, old.snippet, old.from_name, old.from_email); END",
    "CREATE TRIGGER email_fts_update AFTER UPDATE OF subject, snippet, from_name, from_email "
    "ON email BEGIN "
    "INSERT INTO email_fts(email_fts, rowid, subject, snippet, from_name, from_email) "
    "VALUES ('delete', old.id, old.subject, old.snippet, old.from_name, old.from_email); "
    "INSERT INTO email_fts(rowid, subject, snippet, from_name, from_email) "
    "VALUES (new.id, new.subject, new.snippet, new.from_name, new.from_email); END",
)

POSTGRES_FTS = (
    "CREATE INDEX email_search_idx ON email USING GIN (to_tsvector('simple', "
    "coalesce(subject, '') || ' ' || coalesce(snippet, '') || ' ' || coalesce(from_name, '') "
    "|| ' ' || coalesce(from_email, '')))",
)


def up(db):
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS)
    for statement in POSTGRES_FTS if isinstance(db, PostgresqlDatabase) else SQLITE_FTS:
        db.execute_sql(statement)
