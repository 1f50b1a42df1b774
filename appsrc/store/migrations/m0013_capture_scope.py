"""0013: privacy by default, and a mailbox lifecycle.

- `capture_scope` (app setting): `investors` keeps in full only mail with an investor or a
  contact among its participants; every other external email is kept as a *bare sighting*
  (Gmail ids, date, the participants' addresses, the mailbox: no subject, body or snippet).
  New installs (no users yet) start on `investors`; an existing install keeps `all`, its
  behaviour until now, until an admin chooses.
- `bare_sighting` and `bare_participant`: those sightings, with their participants indexed like
  `email_participant`, so a later investor or contact finds them and the worker fetches them
  again in full (`refetch_requested_at`).
- `member_exclusion`: addresses and domains a team member keeps out of their own mailbox.
- `email_account.paused_at` and `removed_at`: an admin pauses a mailbox (no Gmail calls) or
  removes it (its sightings deleted).
"""

from __future__ import annotations

from datetime import UTC, datetime

from peewee import AutoField, CharField, ForeignKeyField, IntegerField, Model

from appsrc.store.fields import UTCDateTimeField


class BaseModel(Model):
    class Meta:
        legacy_table_names = False


class User(BaseModel):
    id = AutoField()


class EmailAccount(BaseModel):
    id = AutoField()


class BareSighting(BaseModel):
    id = AutoField()
    account = ForeignKeyField(EmailAccount, on_delete="CASCADE", index=False)
    gmail_id = CharField()
    gmail_thread_id = CharField(default="")
    sent_at = UTCDateTimeField()
    seen_generation = IntegerField(default=0)
    refetch_requested_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField()

    class Meta:
        indexes = ((("account", "gmail_id"), True),)


class BareParticipant(BaseModel):
    id = AutoField()
    sighting = ForeignKeyField(BareSighting, on_delete="CASCADE", index=False)
    address = CharField()
    match_key = CharField(index=True)
    domain = CharField(index=True)
    role = CharField()

    class Meta:
        indexes = ((("sighting", "address", "role"), True),)


class MemberExclusion(BaseModel):
    id = AutoField()
    user = ForeignKeyField(User, on_delete="CASCADE", index=False)
    value = CharField()
    kind = CharField()
    created_at = UTCDateTimeField()

    class Meta:
        indexes = ((("user", "value"), True),)


MODELS = [BareSighting, BareParticipant, MemberExclusion]


def up(db):
    with db.bind_ctx([User, EmailAccount, *MODELS]):
        db.create_tables(MODELS)
    # The worker's queue of sightings to fetch again: only the flagged ones are indexed.
    db.execute_sql(
        "CREATE INDEX bare_sighting_refetch ON bare_sighting (account_id, id) WHERE refetch_requested_at IS NOT NULL"
    )
    db.execute_sql("ALTER TABLE email_account ADD COLUMN paused_at TIMESTAMP")
    db.execute_sql("ALTER TABLE email_account ADD COLUMN removed_at TIMESTAMP")
    users = db.execute_sql('SELECT count(*) FROM "user"').fetchone()[0]
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    db.execute_sql(
        f"INSERT INTO app_setting (key, value, updated_at) VALUES ({db.param}, {db.param}, {db.param})",
        ("capture_scope", '"all"' if users else '"investors"', now),
    )
