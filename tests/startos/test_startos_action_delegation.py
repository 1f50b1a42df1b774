"""The `configure-gmail-delegation` action: a key Google would issue, validated, saved 0600 with
the fund's domains, and the Client ID plus the exact scopes handed back."""

from __future__ import annotations

import json
import os
import stat

import pytest
from google.oauth2 import service_account as google_sa
from startos_helpers import ACTIONS, key_body, load_script, snapshot
from startos_support import ActionError

DELEGATION = load_script(ACTIONS / "configure-gmail-delegation")
SCOPES = "https://www.googleapis.com/auth/gmail.readonly,https://www.googleapis.com/auth/gmail.compose"


def dwd(data_dir):
    return data_dir / "secrets" / "dwd"


def test_saves_the_key_and_domains_and_shows_client_id_and_scopes(action, data_dir, service_account):
    payload = {
        "service-account-json": json.dumps(service_account, indent=2),
        "own-domains": "Fund.com, @fund-partners.com fund.com",
    }
    run = action("configure-gmail-delegation", payload)
    out = run.output()

    assert out["value"] == "104123456789012345678" and out["copyable"] is True
    assert out["qr"] is False
    assert SCOPES in out["message"]
    assert "Client ID: 104123456789012345678" in out["message"]
    saved = json.loads((dwd(data_dir) / "service_account.json").read_text())
    assert saved == service_account
    assert (dwd(data_dir) / "own_domains").read_text() == "fund.com\nfund-partners.com\n"
    for name in ("service_account.json", "own_domains"):
        assert stat.S_IMODE(os.stat(dwd(data_dir) / name).st_mode) == 0o600
    assert stat.S_IMODE(dwd(data_dir).stat().st_mode) == 0o700
    # The private key never leaves the file.
    for secret in (key_body(service_account["private_key"]).splitlines()[0][:40], service_account["private_key_id"]):
        assert secret not in run.stdout + run.stderr


def test_the_saved_file_is_a_key_google_auth_can_sign_with(action_stdin, data_dir, service_account):
    action_stdin("configure-gmail-delegation", {"service-account-json": json.dumps(service_account)}).output()
    credentials = google_sa.Credentials.from_service_account_file(
        str(dwd(data_dir) / "service_account.json"), scopes=SCOPES.split(",")
    ).with_subject("alice@fund.com")
    assert credentials.service_account_email == service_account["client_email"]
    assert credentials.signer.sign(b"payload")  # the RSA key really loaded


def test_a_key_pasted_on_one_line_with_padding_is_accepted(action, data_dir, service_account):
    one_line = "  \n" + json.dumps(service_account) + "\n\t "
    assert "\n" not in json.dumps(service_account)
    action("configure-gmail-delegation", {"service-account-json": one_line}).output()
    assert json.loads((dwd(data_dir) / "service_account.json").read_text()) == service_account


def test_a_key_whose_line_breaks_became_spaces_is_repaired(service_account):
    # A multi-line paste into a single-line field: newlines in the PEM turned into spaces.
    mangled = dict(service_account, private_key=service_account["private_key"].replace("\n", " "))
    key = DELEGATION.parse_key({"service-account-json": json.dumps(mangled)})
    assert key["private_key"].replace("\n", "") == service_account["private_key"].replace("\n", "")
    assert key["private_key"].startswith("-----BEGIN PRIVATE KEY-----\n")


def test_raw_line_breaks_inside_the_json_strings_are_tolerated(service_account):
    text = json.dumps(service_account).replace("\\n", "\n")  # real newlines inside the PEM
    key = DELEGATION.parse_key({"service-account-json": text})
    assert key["client_id"] == service_account["client_id"]


def test_empty_own_domains_leaves_them_to_be_derived(action_stdin, data_dir, service_account):
    action_stdin(
        "configure-gmail-delegation", {"service-account-json": json.dumps(service_account), "own-domains": "fund.com"}
    ).output()
    out = action_stdin(
        "configure-gmail-delegation", {"service-account-json": json.dumps(service_account), "own-domains": None}
    ).output()
    assert not (dwd(data_dir) / "own_domains").exists()
    assert "derived from the team's mailboxes" in out["message"]


def bad(service_account, **changes):
    key = dict(service_account)
    for name, value in changes.items():
        if value is None:
            key.pop(name)
        else:
            key[name] = value
    return json.dumps(key)


@pytest.mark.parametrize(
    "make_text, reason",
    [
        (lambda sa: "", "required"),
        (lambda sa: "{not json", "not valid JSON"),
        (lambda sa: json.dumps([sa]), "expected a JSON object"),
        (lambda sa: bad(sa, type="authorized_user"), '"type" must be "service_account"'),
        (lambda sa: bad(sa, client_email=None), '"client_email" is missing'),
        (lambda sa: bad(sa, client_email="not-an-email"), '"client_email" is missing or not'),
        (lambda sa: bad(sa, client_id=None), '"client_id" is missing'),
        (lambda sa: bad(sa, client_id="abc"), "not a numeric client ID"),
        (lambda sa: bad(sa, token_uri=None), '"token_uri" is missing'),
        (lambda sa: bad(sa, token_uri="http://oauth2.example.com/token"), "not an https URL"),
        (lambda sa: bad(sa, private_key=None), '"private_key" is missing'),
        (
            lambda sa: bad(sa, private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            "not a readable PEM private key",
        ),
        (
            lambda sa: bad(sa, private_key=sa["private_key"][:400] + "\n-----END PRIVATE KEY-----\n"),
            "not a readable PEM private key",
        ),
        (lambda sa: "x" * 30_000, "longer than"),
    ],
)
def test_bad_keys_are_refused_with_a_reason_and_no_key_material(service_account, make_text, reason):
    with pytest.raises(ActionError) as caught:
        DELEGATION.parse_key({"service-account-json": make_text(service_account)})
    assert reason in str(caught.value)
    assert key_body(service_account["private_key"])[:40] not in str(caught.value)


def test_an_ec_key_is_refused(service_account):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(ActionError, match="not an RSA key"):
        DELEGATION.parse_key({"service-account-json": bad(service_account, private_key=pem)})


def test_the_simulators_loopback_token_endpoint_is_accepted(service_account):
    key = DELEGATION.parse_key({"service-account-json": bad(service_account, token_uri="http://127.0.0.1:8765/token")})
    assert key["token_uri"] == "http://127.0.0.1:8765/token"


@pytest.mark.parametrize(
    "domains, reason",
    [
        ("fund", "'fund' is not a domain name"),
        ("fund.com, http://fund.com", "not a domain name"),
        ("fund..com", "not a domain name"),
        ("-fund.com", "not a domain name"),
        ("fund.c0m", "not a domain name"),
    ],
)
def test_bad_domains_are_refused(domains, reason):
    with pytest.raises(ActionError) as caught:
        DELEGATION.parse_domains({"own-domains": domains})
    assert reason in str(caught.value)


def test_a_bad_domain_keeps_the_previous_key_and_domains(action_stdin, data_dir, service_account):
    action_stdin(
        "configure-gmail-delegation", {"service-account-json": json.dumps(service_account), "own-domains": "fund.com"}
    ).output()
    before = snapshot(data_dir)
    other = dict(service_account, client_id="999")
    run = action_stdin(
        "configure-gmail-delegation",
        {"service-account-json": json.dumps(other), "own-domains": "fund.com, not_a_domain"},
    )
    assert run.returncode != 0 and "own-domains" in run.stderr and run.stdout == ""
    assert snapshot(data_dir) == before


def test_a_bad_key_prints_no_key_material(action_stdin, data_dir, service_account):
    broken = dict(service_account, private_key=service_account["private_key"][:-60] + "-----END PRIVATE KEY-----\n")
    run = action_stdin("configure-gmail-delegation", {"service-account-json": json.dumps(broken)})
    assert run.returncode != 0 and "private_key" in run.stderr
    body = key_body(service_account["private_key"])
    for i in range(0, len(body) - 32, 32):
        assert body[i : i + 32] not in run.stdout + run.stderr
    assert not (data_dir / "secrets").exists()
