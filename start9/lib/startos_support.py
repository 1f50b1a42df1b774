"""What every StartOS action and health check of this package shares.

- The action protocol: input as a JSON object from the last argument (StartOS 0.4) or stdin
  (0.3.x); exactly one result object on stdout; logs and errors on stderr; non-zero on failure.
- Secret sets written atomically: all the files of one action appear together or not at all.
- Running `python -m appsrc ...` as the owner of the data volume, never as root.
- The properties file StartOS shows (`compat properties /data/start9/stats.yaml`).

Everything honours `CRM_DATA_DIR` in place of `/data`, so tests run the scripts on a temp dir.
Only the standard library is imported here (cryptography is imported where a key is checked).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

SMTP_FIELDS = ("host", "port", "security", "username", "password", "from")
DWD_KEY_FILE = "service_account.json"
DWD_DOMAINS_FILE = "own_domains"
DWD_FIELDS = (DWD_KEY_FILE, DWD_DOMAINS_FILE)
GMAIL_SCOPES = (
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.compose",
)
# The `configure-digest` action's files under settings/digest/ and the variables the entrypoint
# exports from them. Not secrets, so they live outside secrets/ (Properties shows them).
DIGEST_SETTINGS = {
    "timezone": "CRM_TIMEZONE",
    "llm-url": "CRM_LLM_URL",
    "llm-model": "CRM_LLM_MODEL",
    "sender": "CRM_DIGEST_SENDER",
}

# Inside a secret set directory: `.current` points at the live generation, and each field is a
# symlink `<field> -> .current/<field>`, so readers keep using plain paths such as
# secrets/smtp/host (the same layout Kubernetes uses for mounted secrets).
CURRENT_LINK = ".current"
GENERATION_PREFIX = ".gen-"


class ActionError(Exception):
    """Bad input or a failed step: the message goes to stderr (never a secret) and exit is 1."""


# --- paths and ownership -------------------------------------------------------------------------


def data_dir() -> Path:
    return Path(os.environ.get("CRM_DATA_DIR") or "/data")


def secrets_dir(root: Path | None = None) -> Path:
    return (root or data_dir()) / "secrets"


def digest_settings_dir(root: Path | None = None) -> Path:
    return (root or data_dir()) / "settings" / "digest"


def dwd_key_configured(root: Path | None = None) -> bool:
    """Whether "Configure Gmail Delegation" has stored a key (a dangling link means unset)."""
    return (secrets_dir(root) / "dwd" / DWD_KEY_FILE).is_file()


def data_owner(root: Path | None = None) -> tuple[int, int]:
    """The uid/gid that owns the data volume: what the app runs as (see docker_entrypoint.sh)."""
    st = (root or data_dir()).stat()
    return st.st_uid, st.st_gid


def give_to_data_owner(path: Path, root: Path | None = None) -> None:
    """Actions run as root in StartOS; what they write must stay readable by the app user."""
    if os.geteuid() != 0:
        return
    uid, gid = data_owner(root)
    os.chown(path, uid, gid, follow_symlinks=False)


def refuse_symlinked_dirs(path: Path, root: Path) -> None:
    """The actions and the entrypoint run as root in a volume the app user can write: a
    directory on the way to `path` that is a symlink could point them anywhere (a chmod of
    /etc, a delete outside the volume). Refuse rather than follow."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise ActionError(f"{path} is outside the data directory {root}") from None
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise ActionError(f"{current} is a symbolic link; refusing to follow it (move it away and retry)")


def ensure_private_dir(path: Path, root: Path | None = None) -> None:
    """Create `path` and its missing parents below the data dir with mode 0700."""
    root = root or data_dir()
    if not root.is_dir():
        raise ActionError(f"the data directory {root} does not exist")
    refuse_symlinked_dirs(path, root)
    missing = []
    current = path
    while not current.exists() and current != root:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700)
        give_to_data_owner(directory, root)
    os.chmod(path, 0o700)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new_file(path: Path, content: str, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        data = content.encode()
        while data:  # os.write may write less than asked
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomically(path: Path, content: str, root: Path | None = None) -> None:
    """Temp file in the same directory, fsync, rename over `path`: readers see old or new."""
    ensure_private_dir(path.parent, root)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{time.time_ns()}")
    try:
        _write_new_file(tmp, content)
        give_to_data_owner(tmp, root)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _replace_symlink(link: Path, target: str, root: Path | None) -> None:
    tmp = link.with_name(f".{link.name}.lnk-{os.getpid()}-{time.time_ns()}")
    os.symlink(target, tmp)
    try:
        give_to_data_owner(tmp, root)
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_secret_set(
    directory: Path, values: Mapping[str, str], fields: Iterable[str], root: Path | None = None
) -> None:
    """Replace the whole set of secret files in `directory` in one atomic step.

    `values` holds the fields that are set (each written 0600); a field of `fields` missing from
    `values` is unset afterwards (its path then dangles, which readers see as "no such file").
    The new generation is written and fsynced in full before one rename of `.current` publishes
    it, so a crash or an error at any point leaves the previous set untouched and complete.
    """
    root = root or data_dir()
    fields = tuple(fields)
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"unknown secret fields {sorted(unknown)}")
    ensure_private_dir(directory, root)
    for name in fields:
        existing = directory / name
        if existing.is_dir() and not existing.is_symlink():
            raise ActionError(f"{existing} is a directory; move it away and run the action again")

    generation = directory / f"{GENERATION_PREFIX}{time.time_ns()}-{os.getpid()}"
    generation.mkdir(mode=0o700)
    try:
        give_to_data_owner(generation, root)
        for name, content in values.items():
            _write_new_file(generation / name, content)
            give_to_data_owner(generation / name, root)
        _fsync_dir(generation)
        _replace_symlink(directory / CURRENT_LINK, generation.name, root)  # the commit point
    except BaseException:
        _remove_tree(generation)
        raise
    # Field links never change once made. On the first run they come after the commit: until
    # then a field reads as unset (or, for a hand-made plain file, as that file).
    for name in fields:
        link = directory / name
        target = f"{CURRENT_LINK}/{name}"
        if not (link.is_symlink() and os.readlink(link) == target):
            _replace_symlink(link, target, root)
    _fsync_dir(directory)
    for old in directory.glob(GENERATION_PREFIX + "*"):
        if old != generation:
            _remove_tree(old)


def _remove_tree(path: Path) -> None:
    """Remove an old generation: a real directory of plain files. Something planted in its place
    (a symlink to a directory elsewhere) is unlinked itself, never entered."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    for child in path.iterdir():
        child.unlink(missing_ok=True)  # never follows: a symlinked child goes, not its target
    path.rmdir()


def read_secret(path: Path, root: Path | None = None) -> str | None:
    """A setting or secret file (its field link followed), or None when absent. A link that
    leads out of the data directory is treated as absent: root never reads it."""
    data_root = (root or data_dir()).resolve()
    resolved = path.resolve()
    if resolved != data_root and data_root not in resolved.parents:
        return None
    try:
        return resolved.read_text()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def read_own_file(path: Path) -> str | None:
    """A file the helpers write themselves (never a symlink): None when absent or planted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:  # ELOOP: a symlink stands where our file should be
        return None
    with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
        return handle.read()


# --- health checks ------------------------------------------------------------------------------

HEALTH_GRACE_MS = 60_000  # a failing check reports "starting" (exit 60) this long after start


def read_elapsed_ms(stdin=None) -> int | None:
    """The milliseconds since start StartOS writes on a health check's stdin (None if unreadable,
    which the checks judge as past the grace period)."""
    stdin = sys.stdin if stdin is None else stdin
    try:
        return int(float(stdin.read().strip()))
    except ValueError:
        return None


def in_grace_period(elapsed_ms: int | None) -> bool:
    return elapsed_ms is not None and elapsed_ms < HEALTH_GRACE_MS


# --- the action protocol ------------------------------------------------------------------------


def read_input(argv: list[str], stdin=None) -> dict[str, Any]:
    """The action's input object: the last argument when it is a JSON object (0.4), else stdin."""
    if len(argv) > 1:
        try:
            candidate = json.loads(argv[-1])
        except ValueError:
            candidate = None
        if isinstance(candidate, dict):
            return candidate
    stdin = sys.stdin if stdin is None else stdin
    text = "" if stdin is None or stdin.isatty() else stdin.read()
    if not text.strip():
        return {}
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise ActionError(f"the action input is not valid JSON ({exc.msg})") from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise ActionError("the action input must be a JSON object")
    return parsed


def result(message: str, value: str | None = None, copyable: bool = False, qr: bool = False) -> dict:
    """The one object StartOS reads from an action's stdout (`version` is the string "0")."""
    return {"version": "0", "message": message, "value": value, "copyable": copyable, "qr": qr}


def run_action(handler: Callable[[dict[str, Any]], dict]) -> None:
    """Run `handler(input)` under the protocol; never returns. What it writes, and what the
    app's command line it runs writes (a new database), is private to the app user."""
    os.umask(0o077)
    try:
        output = handler(read_input(sys.argv))
    except ActionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.write(json.dumps(output) + "\n")
    sys.stdout.flush()
    sys.exit(0)


def field(
    data: Mapping[str, Any], name: str, *, required: bool = False, max_len: int = 1000, strip: bool = True
) -> str | None:
    """A string input field: None when absent/null/blank; no control characters (files are
    one value each and the entrypoint exports them as environment variables)."""
    value = data.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ActionError(f"{name}: expected text")
    if strip:
        value = value.strip()
    if not value:
        if required:
            raise ActionError(f"{name}: required")
        return None
    if len(value) > max_len:
        raise ActionError(f"{name}: longer than {max_len} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ActionError(f"{name}: must be a single line without control characters")
    return value


# --- syntax checks ------------------------------------------------------------------------------

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


def is_hostname(value: str) -> bool:
    """RFC 1123 host name (one label allowed, e.g. a LAN relay) or an IP address."""
    import ipaddress  # imported where used: every script start pays for module imports

    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    name = value.lower().rstrip(".")
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def is_domain(value: str) -> bool:
    """A registrable-looking mail domain: two labels or more, alphabetic (or IDNA) TLD."""
    labels = value.lower().split(".")
    return (
        len(value) <= 253
        and len(labels) >= 2
        and all(_LABEL.match(label) for label in labels)
        and bool(_TLD.match(labels[-1]))
    )


def is_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return (
        bool(at)
        and bool(_LOCAL_PART.match(local))
        and not local.startswith(".")
        and not local.endswith(".")
        and ".." not in local
        and is_domain(domain)
    )


def parse_mailbox(value: str) -> str:
    """Exactly one address, optionally with a display name, as people type it ("ir@fund.com",
    "IR Desk <ir@fund.com>"), in its normal form ("IR Desk <ir@fund.com>", the name kept as
    typed, quoted where RFC 5322 needs it). The app reads it back with its own copy of this
    rule (appsrc/secret_files.py `parse_mailbox`; this module imports only the standard library); a
    test holds the two to the same answers. Anything else is a ValueError."""
    from email.errors import ObsoleteHeaderDefect
    from email.headerregistry import Address, HeaderRegistry

    try:
        header = HeaderRegistry()("From", value)
        mailboxes = header.addresses
        # Obsolete syntax ("J. Smith <j@fund.com>") is what people type; other defects refuse.
        defects = [d for d in header.defects if not isinstance(d, ObsoleteHeaderDefect)]
    except (IndexError, ValueError, TypeError, RecursionError):  # the parser's own failures
        mailboxes, defects = (), ["unreadable"]
    if len(mailboxes) != 1 or defects or not is_email(mailboxes[0].addr_spec):
        raise ValueError("expected one email address, e.g. ir@fund.com or IR Desk <ir@fund.com>")
    name = " ".join(mailboxes[0].display_name.split())
    local, _, domain = mailboxes[0].addr_spec.rpartition("@")
    return str(Address(display_name=name, username=local, domain=domain.lower()))


# --- the app's command line ---------------------------------------------------------------------


def run_appsrc(
    args: list[str], *, input: str | None = None, timeout: float = 120, root: Path | None = None
) -> subprocess.CompletedProcess:
    """`python -m appsrc ARGS` with this interpreter, as the data volume's owner.

    Actions and health checks start as root; the database and its WAL files must stay owned by
    the app user, so the child drops to the owner of the data dir (as the entrypoint does).
    """
    root = root or data_dir()
    kwargs: dict[str, Any] = {}
    if os.geteuid() == 0:
        uid, gid = data_owner(root)
        if uid != 0:
            kwargs.update(user=uid, group=gid, extra_groups=[])
    env = dict(os.environ, CRM_DATA_DIR=str(root))
    if input is None:
        kwargs["stdin"] = subprocess.DEVNULL
    return subprocess.run(
        [sys.executable, "-m", "appsrc", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=root,
        env=env,
        **kwargs,
    )


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def app_status(timeout: float = 20, root: Path | None = None) -> dict[str, Any]:
    """`python -m appsrc status --json`, checked against its contract; raises ActionError."""
    try:
        proc = run_appsrc(["status", "--json"], timeout=timeout, root=root)
    except subprocess.TimeoutExpired:
        raise ActionError(f"`appsrc status` gave no answer within {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise ActionError(f"`appsrc status` failed: {last_line(proc.stderr) or proc.returncode}")
    try:
        status = json.loads(proc.stdout)
    except ValueError:
        raise ActionError("`appsrc status --json` did not print JSON") from None
    if (
        not isinstance(status, dict)
        or not isinstance(status.get("mailboxes_total"), int)
        or not isinstance(status.get("admins_active"), int)
        or not isinstance(status.get("mailboxes_syncing"), int)
        or not isinstance(status.get("mailboxes_in_error"), list)
    ):
        raise ActionError("`appsrc status --json` printed an object without the expected fields")
    return status


# --- properties ---------------------------------------------------------------------------------


def properties_path(root: Path | None = None) -> Path:
    return (root or data_dir()) / "start9" / "stats.yaml"


ADMINS_DESCRIPTION = (
    "Dashboard admins (they sign in, approve, and are the only recipients of "
    "the daily digest). Create Admin makes one or resets a password."
)


def _prop(value: str, description: str, copyable: bool = False) -> dict[str, Any]:
    return {
        "type": "string",
        "value": value,
        "description": description,
        "copyable": copyable,
        "qr": False,
        "masked": False,
    }


def build_properties(status: Mapping[str, Any] | None, root: Path | None = None) -> dict[str, Any]:
    """The properties StartOS shows: where the dashboard is and how capture is doing.

    Never a secret: the delegation key file is read only for its (public) client ID, and of the
    SMTP settings only server, port and security are shown.
    """
    root = root or data_dir()
    port = os.environ.get("CRM_PORT", "8050")
    data: dict[str, Any] = {
        "Dashboard": _prop(
            "Launch UI, or the LAN (https) and Tor addresses on this service's Interfaces page",
            f"The admin dashboard (port {port} inside the service). Sign in with the account "
            "made by the Create Admin action.",
        ),
        "Gmail capture": _prop(
            "Live Gmail capture"
            if dwd_key_configured(root)
            else "Not configured: run the Configure Gmail Delegation action",
            "Team mailboxes are captured through Google Workspace domain-wide delegation once "
            "its key is stored; until then each mailbox shows what is missing.",
        ),
    }
    if status is None:
        data["Admins"] = _prop("unknown (status unavailable)", ADMINS_DESCRIPTION)
        data["Mailboxes syncing"] = _prop(
            "unknown (status unavailable)", "Team mailboxes whose Gmail is being captured."
        )
        data["Last digest"] = _prop("unknown (status unavailable)", "The last daily digest run.")
    else:
        admins = status.get("admins_active", 0)
        data["Admins"] = _prop(
            f"{admins} active" if admins else "None yet: run the Create Admin action", ADMINS_DESCRIPTION
        )
        total, syncing = status.get("mailboxes_total", 0), status.get("mailboxes_syncing", 0)
        errors = status.get("mailboxes_in_error") or []
        permanent = [e for e in errors if isinstance(e, dict) and e.get("kind") == "permanent"]
        data["Mailboxes syncing"] = _prop(f"{syncing} of {total}", "Team mailboxes whose Gmail is being captured.")
        data["Mailboxes needing a fix"] = _prop(
            str(len(permanent)),
            "Mailboxes stopped by a permanent error; the Mailbox capture "
            "health check and the dashboard's Mailboxes page say how to fix each.",
        )
        data["Last digest"] = _prop(
            describe_digest(status.get("last_digest")), "The last daily digest run (internal, to the fund's admins)."
        )
    data["Delegation client ID"] = _prop(
        _client_id(root) or "not configured",
        "The service account's client ID to authorize in the Google Admin console (Configure Gmail Delegation action).",
        copyable=True,
    )
    data["Digest SMTP"] = _prop(
        _smtp_summary(root),
        "The SMTP fallback for the digest (Configure Digest SMTP action); Gmail delegation is preferred.",
    )
    data["Digest settings"] = _prop(
        _digest_summary(root),
        "Time zone, local LLM server and "
        "sender of the digest (Configure Digest action), as saved; "
        "the service applies them when it starts.",
    )
    return {"version": 2, "data": data}


def describe_digest(last: Any) -> str:
    if not isinstance(last, dict):
        return "none yet"
    words = [str(last.get("status") or "unknown")]
    if last.get("kind"):
        words.append(f"({last['kind']})")
    if last.get("finished_at"):
        words.append(f"at {last['finished_at']}")
    if last.get("transport"):
        words.append(f"via {last['transport']}")
    return " ".join(words)


def _client_id(root: Path) -> str | None:
    text = read_secret(secrets_dir(root) / "dwd" / DWD_KEY_FILE, root)
    try:
        client_id = json.loads(text).get("client_id") if text else None
    except (ValueError, AttributeError):
        return None
    return str(client_id) if client_id else None


def _smtp_summary(root: Path) -> str:
    smtp = secrets_dir(root) / "smtp"
    host = read_secret(smtp / "host", root)
    if not host:
        return "not configured"
    port = read_secret(smtp / "port", root) or "?"
    security = read_secret(smtp / "security", root) or "?"
    return f"{host}:{port} ({security})"


def _digest_summary(root: Path) -> str:
    directory = digest_settings_dir(root)
    saved = {name: (read_secret(directory / name, root) or "").strip() for name in DIGEST_SETTINGS}
    llm = saved["llm-url"] or "none"
    if saved["llm-url"] and saved["llm-model"]:
        llm += f" (model {saved['llm-model']})"
    sender = saved["sender"] or "the first active admin"
    return f"time zone {saved['timezone'] or 'UTC'}; local LLM {llm}; sent from {sender}"


def properties_text(status: Mapping[str, Any] | None, root: Path | None = None) -> str:
    """The properties as StartOS 0.3.5 reads them (JSON is valid YAML, so the file needs no YAML
    library in the image); StartOS 0.4's "Dashboard address and status" action reads the same."""
    return json.dumps(build_properties(status, root), indent=2, sort_keys=True) + "\n"


def setup_state(root: Path | None = None) -> dict[str, Any]:
    """What StartOS 0.4's set-up tasks ask: is there an admin yet, is delegation configured?
    Migrates first, so it answers on a volume the service has never started on."""
    root = root or data_dir()
    migrate = run_appsrc(["migrate"], root=root)
    if migrate.returncode != 0:
        raise ActionError(f"preparing the database failed: {last_line(migrate.stderr)}")
    status = app_status(root=root)
    return {"admins_active": status["admins_active"], "delegation_configured": dwd_key_configured(root)}


def write_properties(status: Mapping[str, Any] | None, root: Path | None = None) -> bool:
    """Write the properties file when its content changed; return whether it was written."""
    root = root or data_dir()
    content = properties_text(status, root)
    path = properties_path(root)
    if read_own_file(path) == content:
        return False
    ensure_private_dir(path.parent, root)
    write_file_atomically(path, content, root)
    return True
