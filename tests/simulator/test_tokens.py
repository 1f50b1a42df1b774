"""Domain-wide delegation through the real google-auth service-account flow."""

from __future__ import annotations

import json
import os
import stat

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import RefreshError

from appsrc.simulator import GMAIL_COMPOSE, GMAIL_READONLY, GmailSimulator

from .conftest import ALICE, credentials_for, refresh


def test_key_file_is_realistic_and_private(sim, tmp_path):
    path = tmp_path / "key.json"
    written = sim.make_service_account_key(path, client_id="123456789012345678901")
    on_disk = json.loads(path.read_text())
    assert on_disk == written
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert on_disk["type"] == "service_account"
    assert on_disk["token_uri"] == sim.url + "token"
    assert on_disk["client_id"] == "123456789012345678901"
    assert on_disk["client_email"].endswith(".iam.gserviceaccount.com")
    assert on_disk["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert len(on_disk["private_key_id"]) == 40


def test_existing_key_file_can_be_adopted_after_a_restart(sim, key_file, clock):
    with GmailSimulator(clock=clock) as restarted:
        restarted.add_mailbox(ALICE)
        adopted = restarted.register_key_file(key_file)
        assert adopted["token_uri"] == restarted.token_uri
        assert json.loads(key_file.read_text())["token_uri"] == restarted.token_uri
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        refresh(credentials_for(key_file, ALICE))
        assert restarted.calls(method="oauth2.token")[-1].status == 200
    assert not sim.calls(method="oauth2.token")


def test_refresh_mints_a_bearer_token_for_the_subject(sim, key_file):
    creds = refresh(credentials_for(key_file, ALICE))
    assert creds.token.startswith("ya29.")
    assert creds.valid
    record = sim.calls(method="oauth2.token")[-1]
    assert (record.user, record.status, record.units) == (ALICE, 200, 0)
    profile = requests.get(
        sim.url + "gmail/v1/users/me/profile", headers={"Authorization": f"Bearer {creds.token}"}, timeout=5
    )
    assert profile.json()["emailAddress"] == ALICE


def test_token_response_carries_google_lifetime(sim, key_file):
    creds = credentials_for(key_file, ALICE)
    assertion = creds._make_authorization_grant_assertion()
    answer = requests.post(
        sim.token_uri,
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        timeout=5,
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["expires_in"] == 3599 and body["token_type"] == "Bearer"


def test_signature_from_another_key_is_rejected(sim, key_file):
    key = json.loads(key_file.read_text())
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key["private_key"] = impostor.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_file.write_text(json.dumps(key))
    with pytest.raises(RefreshError, match="invalid_grant: Invalid JWT Signature."):
        refresh(credentials_for(key_file, ALICE))


def test_scope_not_granted_is_unauthorized_client(sim, key_file):
    client_id = json.loads(key_file.read_text())["client_id"]
    sim.set_grant(client_id, [GMAIL_READONLY])
    refresh(credentials_for(key_file, ALICE, scopes=[GMAIL_READONLY]))
    with pytest.raises(RefreshError) as failure:
        refresh(credentials_for(key_file, ALICE, scopes=[GMAIL_READONLY, GMAIL_COMPOSE]))
    assert "unauthorized_client: Client is unauthorized to retrieve access tokens" in str(failure.value)
    assert failure.value.args[1]["error"] == "unauthorized_client"
    assert not failure.value.retryable


@pytest.mark.parametrize(
    "address,status",
    [
        ("nobody@fund.example", None),
        ("gone@fund.example", "suspended"),
        ("outsider@fund.example", "unknown"),
        ("someone@gmail.com", "consumer"),
    ],
)
def test_users_that_cannot_be_impersonated(sim, key_file, address, status):
    if status:
        sim.add_mailbox(address, status=status)
    with pytest.raises(RefreshError, match="invalid_grant: Invalid email or User ID"):
        refresh(credentials_for(key_file, address))
    assert sim.calls(method="oauth2.token")[-1].status == 400


def test_suspension_revokes_issued_tokens(sim, key_file, gmail):
    service = gmail(ALICE)
    service.users().getProfile(userId="me").execute()
    sim.set_mailbox_status(ALICE, "suspended")
    with pytest.raises(RefreshError, match="Invalid email or User ID"):
        service.users().getProfile(userId="me").execute()


def test_clock_skew_gives_invalid_jwt(sim, key_file, clock):
    clock.advance(2 * 3600)
    with pytest.raises(RefreshError) as failure:
        refresh(credentials_for(key_file, ALICE))
    assert "invalid_grant: Invalid JWT: Token must be a short-lived token (60 minutes)" in str(failure.value)


def test_small_skew_is_tolerated_and_configurable(sim, key_file, clock):
    clock.advance(-120)
    refresh(credentials_for(key_file, ALICE))
    sim.configure(jwt_skew_s=60)
    with pytest.raises(RefreshError, match="Invalid JWT"):
        refresh(credentials_for(key_file, ALICE))


def test_expired_token_is_refreshed_by_the_client(sim, gmail, clock):
    sim.configure(token_lifetime_s=600)
    service = gmail(ALICE)
    service.users().getProfile(userId="me").execute()
    clock.advance(601)
    service.users().getProfile(userId="me").execute()
    statuses = [(r.method, r.status) for r in sim.calls()]
    assert statuses == [
        ("oauth2.token", 200),
        ("users.getProfile", 200),
        ("users.getProfile", 401),
        ("oauth2.token", 200),
        ("users.getProfile", 200),
    ]


def test_missing_bearer_token_gets_googles_401(sim):
    answer = requests.get(sim.url + "gmail/v1/users/me/profile", timeout=5)
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0]["reason"] == "authError"
    assert "Bearer" in answer.headers["WWW-Authenticate"]


def test_wrong_grant_type_is_refused(sim):
    answer = requests.post(sim.token_uri, data={"grant_type": "password", "assertion": "x"}, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"
