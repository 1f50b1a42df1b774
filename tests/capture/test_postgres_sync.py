"""Capture on PostgreSQL: a real sync against the simulator, then a rematch after import."""

import pytest

pytestmark = pytest.mark.postgres


def test_full_sync_and_rematch_on_postgres(postgres_url, sim, tmp_path):
    from appsrc.crm.investors import import_investors_csv
    from appsrc.crm.users import add_user
    from appsrc.simulator import generate_team
    from appsrc.store.models import ActivityProposal, Email, EmailAccountMessage
    from tests.capture.conftest import DATASET_NOW, make_runtime
    from tests.capture.test_sync import assert_store_matches_dataset

    team = generate_team(3, team_size=3, investors=8, messages_per_mailbox=60, now=DATASET_NOW)
    team.gmail_ids = team.load_into(sim)
    rt = make_runtime(sim, tmp_path, CRM_DATABASE_URL=postgres_url, CRM_OWN_DOMAINS=",".join(team.own_domains))
    try:
        now = rt.clock.now()
        for member in team.team:
            add_user(member.address, member.name, now)
        assert all(r.ok for r in rt.sync_all())  # investors unknown yet: captured, no proposals
        assert ActivityProposal.select().count() == 0
        stats = import_investors_csv(team.investors_csv(), now, directory=rt.directory).rematched
        assert stats["proposals_added"] == ActivityProposal.select().count() > 0
        assert_store_matches_dataset(team)
        assert Email.select().count() < EmailAccountMessage.select().count()  # deduped across mailboxes
    finally:
        rt.close()
