"""`python -m appsrc check`: prove the delegation works before trusting the sync with it.

Each scope is minted on its own so a missing grant is named exactly, then getProfile proves the
mailbox has Gmail.
"""

from __future__ import annotations

from typing import Any

from appsrc.gmail.client import GmailError, GmailRemotes
from appsrc.gmail.credentials import ALL_SCOPES, SCOPE_READONLY, DelegatedCredentials, DelegationError, grant_fix
from appsrc.store.models import EmailAccount
from appsrc.store.queries.mailboxes import capturing_mailboxes


def check_delegation(credentials: DelegatedCredentials, remotes: GmailRemotes) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ok": False,
        "key": {"ok": False, "client_id": None, "error": None, "fix": None},
        "mailboxes": [],
    }
    try:
        info = credentials.key_info()
    except DelegationError as exc:
        result["key"].update(error=str(exc), fix=exc.fix)
        return result
    result["key"].update(ok=True, client_id=info.client_id)
    for account in capturing_mailboxes().order_by(EmailAccount.address):
        result["mailboxes"].append(_check_mailbox(credentials, remotes, account.address, info.client_id))
    result["ok"] = all(m["ok"] for m in result["mailboxes"])
    return result


def _check_mailbox(
    credentials: DelegatedCredentials, remotes: GmailRemotes, address: str, client_id: str
) -> dict[str, Any]:
    entry: dict[str, Any] = {"address": address, "ok": False, "error": None, "fix": None, "scopes": {}}
    missing = []
    for scope in ALL_SCOPES:
        try:
            credentials.credentials_for(address, (scope,))
            entry["scopes"][scope] = "ok"
        except DelegationError as exc:
            entry["scopes"][scope] = exc.code
            if exc.code != "unauthorized_client":
                entry.update(error=str(exc), fix=exc.fix)
                return entry
            missing.append(scope)
    if missing:
        entry.update(error="delegation is not granted for " + ", ".join(missing), fix=grant_fix(client_id))
        return entry
    try:
        remotes.remote(address, (SCOPE_READONLY,)).get_profile()
    except (GmailError, DelegationError) as exc:
        entry.update(error=str(exc), fix=exc.fix)
        return entry
    entry["ok"] = True
    return entry
