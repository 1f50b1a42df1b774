"""Domain-wide delegation: service-account keys, Admin-console grants and the token endpoint.

google-auth signs an RS256 JWT with the key file's private key and POSTs it to the key
file's `token_uri`. This module verifies it exactly as far as Google's answers are
observable and returns Google's real error bodies, so RefreshError messages match production.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MAIL_GOOGLE = "https://mail.google.com/"
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
GMAIL_COMPOSE = "https://www.googleapis.com/auth/gmail.compose"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
GMAIL_MODIFY = "https://www.googleapis.com/auth/gmail.modify"
GMAIL_METADATA = "https://www.googleapis.com/auth/gmail.metadata"
GMAIL_LABELS = "https://www.googleapis.com/auth/gmail.labels"

JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
MAX_ASSERTION_LIFETIME_S = 3600

INVALID_USER = "Invalid email or User ID"
BAD_SIGNATURE = "Invalid JWT Signature."
BAD_TIMEFRAME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)
UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, or client not "
    "authorized for any of the scopes requested."
)


class TokenError(Exception):
    """An OAuth error answer: HTTP status plus Google's `error`/`error_description`."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


@dataclass
class ServiceAccount:
    client_id: str
    client_email: str
    key_id: str
    public_key: rsa.RSAPublicKey
    scopes_granted: frozenset[str]


@dataclass(frozen=True)
class AccessToken:
    """What an issued bearer token stands for. `subject` is None without delegation."""

    value: str
    client_id: str
    subject: str | None
    scopes: frozenset[str]
    expires_at: float


def _b64url_json(segment: str) -> dict:
    data = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def unverified_subject(assertion: str) -> str | None:
    """The `sub` claim without any checks, only to attribute a token request in the call log."""
    try:
        subject = _b64url_json(assertion.split(".")[1]).get("sub")
    except (IndexError, ValueError):
        return None
    return subject.lower() if isinstance(subject, str) else None


class Authority:
    """Keys, grants and issued tokens, checked against the simulator's injectable clock."""

    def __init__(self, clock: Callable[[], float], token_uri: Callable[[], str]):
        self._clock = clock
        self._token_uri = token_uri
        self._lock = threading.Lock()
        self._accounts: dict[str, ServiceAccount] = {}
        self._tokens: dict[str, AccessToken] = {}

    def create_key(
        self, path: str | os.PathLike, client_id: str | None, scopes_granted: tuple[str, ...], project_id: str
    ) -> dict:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        client_id = client_id or str(10**20 + secrets.randbelow(9 * 10**20))
        account_name = f"capture-{client_id[-6:]}"
        client_email = f"{account_name}@{project_id}.iam.gserviceaccount.com"
        key_id = secrets.token_hex(20)
        key_file = {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key_id,
            "private_key": private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            "client_email": client_email,
            "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self._token_uri(),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
            + client_email.replace("@", "%40"),
            "universe_domain": "googleapis.com",
        }
        self._save_and_register(path, key_file, private_key.public_key(), scopes_granted)
        return key_file

    def register_key_file(self, path: str | os.PathLike, scopes_granted: tuple[str, ...]) -> dict:
        """Adopt an existing key file, pointing its token_uri here, so a restarted
        simulator keeps accepting the key an appliance is already configured with."""
        with open(path, encoding="utf-8") as handle:
            key_file = json.load(handle)
        private_key = serialization.load_pem_private_key(
            key_file["private_key"].encode(), password=None, unsafe_skip_rsa_key_validation=True
        )
        if not isinstance(private_key, rsa.RSAPrivateKey):  # service-account keys are RSA (RS256)
            raise ValueError(f"{path}: the private key is not an RSA key")
        key_file["token_uri"] = self._token_uri()
        self._save_and_register(path, key_file, private_key.public_key(), scopes_granted)
        return key_file

    def _save_and_register(
        self, path, key_file: dict, public_key: rsa.RSAPublicKey, scopes_granted: tuple[str, ...]
    ) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(key_file, handle, indent=2)
        os.chmod(path, 0o600)
        with self._lock:
            self._accounts[key_file["private_key_id"]] = ServiceAccount(
                key_file["client_id"],
                key_file["client_email"],
                key_file["private_key_id"],
                public_key,
                frozenset(scopes_granted),
            )

    def set_grant(self, client_id: str, scopes) -> None:
        """Like editing the Admin console entry; tokens already issued stay valid."""
        with self._lock:
            accounts = [a for a in self._accounts.values() if a.client_id == client_id]
            if not accounts:
                raise KeyError(f"no service account with client_id {client_id}")
            for account in accounts:
                account.scopes_granted = frozenset(scopes)

    def _account_for(self, header: dict, claims: dict) -> ServiceAccount:
        with self._lock:
            account = self._accounts.get(header.get("kid", ""))
            if account is None:
                matches = [a for a in self._accounts.values() if a.client_email == claims.get("iss")]
                account = matches[0] if matches else None
        if account is None:
            raise TokenError(400, "invalid_grant", BAD_SIGNATURE)
        return account

    def _verified_claims(self, assertion: str) -> tuple[ServiceAccount, dict]:
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header, claims = _b64url_json(header_b64), _b64url_json(claims_b64)
            signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
        except ValueError:
            raise TokenError(400, "invalid_grant", BAD_SIGNATURE) from None
        account = self._account_for(header, claims)
        try:
            if header.get("alg") != "RS256":
                raise InvalidSignature
            account.public_key.verify(
                signature, f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise TokenError(400, "invalid_grant", BAD_SIGNATURE) from None
        if claims.get("iss") != account.client_email:
            raise TokenError(400, "invalid_grant", BAD_SIGNATURE)
        return account, claims

    def _check_timeframe(self, claims: dict, skew_s: float) -> None:
        now = self._clock()
        try:
            issued, expires = float(claims["iat"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise TokenError(400, "invalid_grant", BAD_TIMEFRAME) from None
        if (
            issued > now + skew_s
            or expires < now - skew_s
            or expires <= issued
            or expires - issued > MAX_ASSERTION_LIFETIME_S
        ):
            raise TokenError(400, "invalid_grant", BAD_TIMEFRAME)

    def mint(
        self, form: dict[str, str], subject_status: Callable[[str], str], *, lifetime_s: float, skew_s: float
    ) -> dict:
        """The token endpoint. Check order: grant type, signature, audience, time, scopes, user.

        `skew_s` is how far the JWT's iat/exp may disagree with the simulator's clock.
        """
        grant_type = form.get("grant_type", "")
        if grant_type != JWT_GRANT_TYPE:
            raise TokenError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        account, claims = self._verified_claims(form.get("assertion", ""))
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, self._token_uri()):
            raise TokenError(400, "invalid_grant", "Invalid JWT: Failed audience check.")
        self._check_timeframe(claims, skew_s)
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            raise TokenError(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        subject = claims.get("sub")
        if subject is not None and not scopes <= account.scopes_granted:
            raise TokenError(401, "unauthorized_client", UNAUTHORIZED_CLIENT)
        if subject is not None and subject_status(subject) not in ("active", "mail_disabled"):
            raise TokenError(400, "invalid_grant", INVALID_USER)
        now = self._clock()
        token = AccessToken(
            "ya29.sim-" + secrets.token_urlsafe(32),
            account.client_id,
            subject.lower() if subject else None,
            scopes,
            now + lifetime_s,
        )
        with self._lock:
            self._tokens = {k: t for k, t in self._tokens.items() if t.expires_at > now}
            self._tokens[token.value] = token
        return {"access_token": token.value, "expires_in": int(lifetime_s) - 1, "token_type": "Bearer"}

    def lookup(self, value: str) -> AccessToken | None:
        """The live token for a bearer value; expired or revoked ones are unknown."""
        with self._lock:
            token = self._tokens.get(value)
        if token is None or token.expires_at <= self._clock():
            return None
        return token

    def revoke_subject(self, address: str) -> None:
        """Suspending a user revokes their tokens at Google."""
        with self._lock:
            self._tokens = {k: t for k, t in self._tokens.items() if t.subject != address.lower()}
