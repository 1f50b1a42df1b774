import pytest

from appsrc.crm.users import (
    UserExists,
    add_user,
    issue_token,
    reset_password,
    set_password,
    update_user,
    user_for_token,
    verify_password,
)
from appsrc.crm.validation import ValidationError
from appsrc.store.models import ApiToken, AuditEvent, EmailAccount, User
from tests.conftest import NOW


def test_add_user_creates_their_mailbox_and_hashes_the_password(db):
    user = add_user(" Alice@Fund.Example ", "Alice", NOW, is_admin=True, password="correct horse battery")
    assert user.email == "alice@fund.example"
    assert EmailAccount.get(EmailAccount.address == "alice@fund.example").user_id == user.id
    assert "correct horse" not in user.password_hash and verify_password(user, "correct horse battery")
    assert not verify_password(user, "wrong password!")
    with pytest.raises(UserExists):
        add_user("alice@fund.example", "Again", NOW)


@pytest.mark.parametrize("email", ["", "alice", "alice@", "@fund.example", "a b@fund.example", "alice@-bad.example"])
def test_bad_addresses_are_refused_naming_the_field(db, email):
    with pytest.raises(ValidationError) as caught:
        add_user(email, "X", NOW)
    assert caught.value.field == "email"


def test_short_password_refused(db):
    with pytest.raises(ValidationError, match="at least"):
        add_user("bob@fund.example", "Bob", NOW, password="short")


def test_set_password_can_promote_to_active_admin(db):
    add_user("bob@fund.example", "Bob", NOW)
    user = set_password(
        "bob@fund.example", "a long enough password", NOW, make_admin=True, actor_label="startos-action"
    )
    assert user.is_admin and user.is_active and verify_password(user, "a long enough password")
    assert AuditEvent.select().where(AuditEvent.action == "user.set_password").count() == 1


def test_tokens_are_stored_hashed_and_resolve_to_active_users_only(db):
    user = add_user("alice@fund.example", "Alice", NOW, is_admin=True)
    token = issue_token("alice@fund.example", NOW, label="script")
    assert token not in [t.token_hash for t in ApiToken.select()]
    assert user_for_token(token, NOW).id == user.id
    assert user_for_token(token + "x", NOW) is None and user_for_token("", NOW) is None
    user.is_active = False
    user.save()
    assert user_for_token(token, NOW) is None


def test_tokens_are_only_for_active_admins(db):
    """Tokens are for admin scripts. A teammate's would open nothing (the API is
    admin-only), so it is refused outright with an error saying why."""
    add_user("bob@fund.example", "Bob", NOW)
    with pytest.raises(ValidationError, match="bob@fund.example is not an admin") as caught:
        issue_token("bob@fund.example", NOW)
    assert caught.value.field == "email"
    add_user("cy@fund.example", "Cy", NOW, is_admin=True)
    User.update(is_active=False).where(User.email == "cy@fund.example").execute()
    with pytest.raises(ValidationError, match="deactivated"):
        issue_token("cy@fund.example", NOW)
    with pytest.raises(ValidationError, match="no user"):
        issue_token("nobody@fund.example", NOW)
    assert ApiToken.select().count() == 0
    assert not AuditEvent.select().where(AuditEvent.action == "token.issue").exists()


@pytest.mark.parametrize(
    "ends_trust, action",
    [
        (lambda admin, now: update_user(admin.id, now, is_admin=False), "user.update"),
        (lambda admin, now: update_user(admin.id, now, is_active=False), "user.update"),
        (lambda admin, now: reset_password(admin.id, now), "user.reset_password"),
        (lambda admin, now: set_password(admin.email, "a brand new password", now), "user.set_password"),
    ],
    ids=["demoted", "deactivated", "password reset", "password set anew"],
)
def test_a_users_tokens_die_when_the_trust_they_were_issued_under_ends(db, ends_trust, action):
    """A script's token must not outlive its owner's admin role, account or password; the other
    admin's token is untouched, and the audit says how many went."""
    ada = add_user("ada@fund.example", "Ada", NOW, is_admin=True)
    add_user("cy@fund.example", "Cy", NOW, is_admin=True)
    tokens = [issue_token("ada@fund.example", NOW, label=f"script {n}") for n in range(2)]
    kept = issue_token("cy@fund.example", NOW)
    ends_trust(ada, NOW)
    assert [user_for_token(t, NOW) for t in tokens] == [None, None]
    assert user_for_token(kept, NOW).email == "cy@fund.example"
    assert ApiToken.select().where(ApiToken.revoked_at == NOW).count() == 2
    event = AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id.desc()).get()
    assert event.detail["tokens_revoked"] == 2


def test_renaming_a_user_keeps_their_tokens(db):
    add_user("ada@fund.example", "Ada", NOW, is_admin=True)
    token = issue_token("ada@fund.example", NOW)
    update_user(User.get(User.email == "ada@fund.example").id, NOW, name="Ada Lovelace")
    assert user_for_token(token, NOW).name == "Ada Lovelace"


def test_on_a_new_install_admins_must_be_at_the_funds_own_domains(db):
    """Admins receive the digest: on a new install (the rule starts on) an admin outside the
    fund's domains is refused, by name, however they would become one; teammates are not."""
    from appsrc.crm.users import admin_domain_rule_on, set_admin_domain_rule

    own = {"fund.example"}
    assert admin_domain_rule_on()
    add_user("ada@fund.example", "Ada", NOW, is_admin=True, own_domains=own)
    add_user("eve@ops.fund.example", "Eve", NOW, is_admin=True, own_domains=own)  # a subdomain is the fund's
    with pytest.raises(ValidationError, match="not at one of the fund's own domains") as caught:
        add_user("mallory@gmail.com", "Mallory", NOW, is_admin=True, own_domains=own)
    assert caught.value.field == "email"
    outsider = add_user("pat@partner.example", "Pat", NOW, own_domains=own)  # a teammate: fine
    with pytest.raises(ValidationError, match="fund's own domains"):
        update_user(outsider.id, NOW, is_admin=True, own_domains=own)
    with pytest.raises(ValidationError, match="fund's own domains"):
        set_password("pat@partner.example", "a long enough password", NOW, make_admin=True, own_domains=own)
    assert not User.get_by_id(outsider.id).is_admin
    add_user("first@anywhere.example", "First", NOW, is_admin=True)  # the fund's domains unknown: not judged

    set_admin_domain_rule(False, NOW, actor_label="test")
    assert update_user(outsider.id, NOW, is_admin=True, own_domains=own).is_admin
    event = AuditEvent.select().where(AuditEvent.action == "settings.admin_domain_rule").get()
    assert event.detail == {"value": "off"}
