"""`load_digest_policy` precedence (DB row → CRM_DIGEST_* → {false, 18}) and strict validation."""

from __future__ import annotations

import pytest

from appsrc.digest.policy import POLICY_KEY, DigestPolicy, PolicyError, load_digest_policy, update_digest_policy
from appsrc.store.models import AppSetting, AuditEvent
from tests.conftest import NOW


def test_default_is_off_at_six_pm(db):
    assert load_digest_policy() == DigestPolicy(False, 18, "default")


@pytest.mark.parametrize(
    "enabled, hour, expected",
    [
        (True, None, DigestPolicy(True, 18, "environment")),
        (None, 7, DigestPolicy(False, 7, "environment")),
        (True, 0, DigestPolicy(True, 0, "environment")),
    ],
)
def test_environment_seeds_each_field_on_its_own(db, enabled, hour, expected):
    assert load_digest_policy(enabled, hour) == expected


def test_database_row_wins_over_the_environment(db):
    update_digest_policy({"enabled": False, "send_hour": 9}, NOW, actor_label="test")
    assert load_digest_policy(True, 20) == DigestPolicy(False, 9, "database")


def test_a_hand_broken_row_keeps_its_valid_fields(db, caplog):
    AppSetting.create(key=POLICY_KEY, value={"enabled": "yes", "send_hour": 7}, updated_at=NOW)
    assert load_digest_policy(True, 20) == DigestPolicy(True, 7, "database")
    assert "not a boolean" in caplog.text


def test_patch_merges_writes_and_audits(db, fund):
    policy = update_digest_policy({"send_hour": 8}, NOW, actor=fund.users["ada"], env_enabled=True)
    assert policy == DigestPolicy(True, 8, "database")  # enabled carried over from the environment
    assert AppSetting.get_by_id(POLICY_KEY).value == {"enabled": True, "send_hour": 8}
    event = AuditEvent.get(AuditEvent.action == "digest.policy.update")
    assert event.actor_id == fund.users["ada"].id and event.actor_label == "ada@fund.example"
    assert event.detail["before"]["source"] == "environment" and event.detail["after"] == {
        "enabled": True,
        "send_hour": 8,
    }
    update_digest_policy({"enabled": False}, NOW, actor=fund.users["ada"])
    assert load_digest_policy() == DigestPolicy(False, 8, "database")


@pytest.mark.parametrize(
    "body, field",
    [
        ([], "body"),
        ("x", "body"),
        ({}, "body"),
        ({"enabled": "true"}, "enabled"),
        ({"enabled": 1}, "enabled"),
        ({"send_hour": 24}, "send_hour"),
        ({"send_hour": -1}, "send_hour"),
        ({"send_hour": "18"}, "send_hour"),
        ({"send_hour": 18.0}, "send_hour"),
        ({"send_hour": True}, "send_hour"),
        ({"send_hour": None}, "send_hour"),
        ({"enabled": True, "sendHour": 3}, "sendHour"),
    ],
)
def test_invalid_changes_name_the_field_and_change_nothing(db, body, field):
    update_digest_policy({"enabled": True, "send_hour": 6}, NOW, actor_label="test")
    events = AuditEvent.select().count()
    with pytest.raises(PolicyError) as caught:
        update_digest_policy(body, NOW, actor_label="test")
    assert caught.value.field == field
    assert load_digest_policy() == DigestPolicy(True, 6, "database") and AuditEvent.select().count() == events
