"""0016: several worker processes on one database.

- `worker`: each running worker process (host, pid, heartbeat). SQLite takes one worker: a
  second finds the first's fresh heartbeat and refuses to start.
- `email_account.lease_owner`, `lease_expires_at`: the worker syncing a mailbox holds its lease
  and renews it; a dead worker's lease expires and another worker continues the mailbox.
- `job_lease`: the same for fleet-wide jobs that must run once at a time (the digest step).
- `quota_bucket`: Gmail's project-wide quota as one token bucket every worker draws from.
"""

from __future__ import annotations

from peewee import CharField, DoubleField, IntegerField, Model

from appsrc.store.fields import UTCDateTimeField


class BaseModel(Model):
    class Meta:
        legacy_table_names = False


class Worker(BaseModel):
    id = CharField(primary_key=True)
    host = CharField()
    pid = IntegerField()
    started_at = UTCDateTimeField()
    heartbeat_at = UTCDateTimeField()


class JobLease(BaseModel):
    name = CharField(primary_key=True)
    owner = CharField(null=True)
    expires_at = UTCDateTimeField(null=True)


class QuotaBucket(BaseModel):
    name = CharField(primary_key=True)
    tokens = DoubleField()
    updated_at = UTCDateTimeField()


def up(db):
    with db.bind_ctx([Worker, JobLease, QuotaBucket]):
        db.create_tables([Worker, JobLease, QuotaBucket])
    db.execute_sql("ALTER TABLE email_account ADD COLUMN lease_owner VARCHAR(64)")
    db.execute_sql("ALTER TABLE email_account ADD COLUMN lease_expires_at TIMESTAMP")
