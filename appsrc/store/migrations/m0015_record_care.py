"""0015: merging and moving CRM records.

- `investor.merged_into_id`, `contact.merged_into_id`: a record merged into another is kept,
  soft-deleted, as a pointer to the survivor, so links to the old id keep working.
- `contact_move`: a contact who changed firms. Mail sent before `since` stays with the investor
  they left (`from_investor_id`); mail from `since` on goes to their current investor.
"""

from __future__ import annotations

from peewee import AutoField, ForeignKeyField, Model

from appsrc.store.fields import UTCDateTimeField


class BaseModel(Model):
    class Meta:
        legacy_table_names = False


class Investor(BaseModel):
    id = AutoField()


class Contact(BaseModel):
    id = AutoField()


class User(BaseModel):
    id = AutoField()


class ContactMove(BaseModel):
    id = AutoField()
    contact = ForeignKeyField(Contact, on_delete="CASCADE")
    from_investor = ForeignKeyField(Investor, on_delete="CASCADE")
    to_investor = ForeignKeyField(Investor, on_delete="CASCADE")
    since = UTCDateTimeField()
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = UTCDateTimeField()


def up(db):
    with db.bind_ctx([Investor, Contact, User, ContactMove]):
        db.create_tables([ContactMove])
    db.execute_sql("ALTER TABLE investor ADD COLUMN merged_into_id INTEGER REFERENCES investor (id) ON DELETE SET NULL")
    db.execute_sql("ALTER TABLE contact ADD COLUMN merged_into_id INTEGER REFERENCES contact (id) ON DELETE SET NULL")
