"""0019: an admin's marks on conversations waiting on the fund's reply.

`awaiting_mark` holds at most one mark per conversation (`thread_key`): `handled` (with
`handled_through`, the newest inbound message it covers; a newer one reopens the case) or
`snoozed` (hidden until `snoozed_until`, the local midnight of the chosen day, in UTC). The
rule itself is a read (`store/queries/awaiting.py`); nothing here is derived from the mail.

`email_awaiting` (sent_at, is_bulk, thread_key, from_email) covers that read's scan of the
lookback window: it never visits the email rows themselves, which are large and, after a
backfill, scattered in time order.
"""

from __future__ import annotations

from peewee import AutoField, CharField, ForeignKeyField, Model

from appsrc.store.fields import UTCDateTimeField


class BaseModel(Model):
    class Meta:
        legacy_table_names = False


class Email(BaseModel):
    id = AutoField()


class User(BaseModel):
    id = AutoField()


class AwaitingMark(BaseModel):
    id = AutoField()
    thread_key = CharField(unique=True)
    state = CharField()
    email = ForeignKeyField(Email, null=True, on_delete="SET NULL", index=False)
    handled_through = UTCDateTimeField(null=True)
    snoozed_until = UTCDateTimeField(null=True)
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    created_at = UTCDateTimeField()


INDEX = "CREATE INDEX email_awaiting ON email (sent_at, is_bulk, thread_key, from_email)"


def up(db):
    with db.bind_ctx([Email, User, AwaitingMark]):
        db.create_tables([AwaitingMark])
    db.execute_sql(INDEX)
