"""Helpers and fixtures for the StartOS package tests: run the real scripts as StartOS would.

Scripts are executed directly (their shebang, `python3` on PATH = this interpreter) with a
temporary data dir as CRM_DATA_DIR. Where a script calls `python -m appsrc ...`, tests either
use the real CLI (PYTHONPATH = the repo) or a *fake* `appsrc` package that answers by the CLI
contract and records each call, so the scripts' handling of every answer is tested.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
START9 = REPO / "start9"
ACTIONS = START9 / "actions"
HEALTH = START9 / "health"
VENV_BIN = str(Path(sys.executable).parent)
sys.path.insert(0, str(START9 / "lib"))  # startos_support, for in-process tests


def script_env(data_dir: Path, pythonpath: Path | str = REPO, **extra: str) -> dict[str, str]:
    """The environment a script sees: this interpreter first on PATH, the data dir, the app."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "SMTP_", "PYTEST_", "FAKE_APPSRC"))}
    env.update(
        PATH=f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        PYTHONPATH=str(pythonpath),
        CRM_DATA_DIR=str(data_dir),
        CRM_START9_DIR=str(START9),
        CRM_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


@dataclass
class ActionRun:
    proc: subprocess.CompletedProcess

    @property
    def returncode(self) -> int:
        return self.proc.returncode

    @property
    def stdout(self) -> str:
        return self.proc.stdout

    @property
    def stderr(self) -> str:
        return self.proc.stderr

    def output(self) -> dict:
        """The one JSON object on stdout, checked against StartOS's action result contract."""
        assert self.returncode == 0, self.stderr
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"stdout must be exactly one JSON object: {self.stdout!r}"
        out = json.loads(lines[0])
        assert set(out) == {"version", "message", "value", "copyable", "qr"}
        assert out["version"] == "0"  # the string, not a number
        assert isinstance(out["message"], str) and out["message"]
        assert out["value"] is None or isinstance(out["value"], str)
        assert isinstance(out["copyable"], bool) and isinstance(out["qr"], bool)
        return out


def run_script(
    path: Path,
    env: dict[str, str],
    *,
    stdin: str = "",
    args: list[str] = (),
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(path), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or env["CRM_DATA_DIR"],
        timeout=timeout,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data volume, as StartOS mounts it at /data."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture(params=["stdin", "argument"])
def input_mode(request) -> str:
    """StartOS 0.3.x passes the input on stdin, 0.4 as the last argument: test both."""
    return request.param


def action_runner(data_dir: Path, input_mode: str):
    """Run an action by id with an input object, the way StartOS 0.3.x ("stdin") or 0.4
    ("argument") would."""

    def run(name: str, payload: dict | None, env: dict[str, str] | None = None) -> ActionRun:
        env = env or script_env(data_dir)
        text = "" if payload is None else json.dumps(payload)
        if input_mode == "stdin":
            return ActionRun(run_script(ACTIONS / name, env, stdin=text))
        return ActionRun(run_script(ACTIONS / name, env, args=[text] if text else []))

    return run


@pytest.fixture
def action(data_dir: Path, input_mode: str):
    """An action run both ways (the test runs twice): for the protocol-level tests."""
    return action_runner(data_dir, input_mode)


@pytest.fixture
def action_stdin(data_dir: Path):
    """An action run with its input on stdin only: for behaviour beyond the protocol, where a
    second run through the argument would only double the time."""
    return action_runner(data_dir, "stdin")


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under `root` with its type, mode and content (or link target)."""
    state = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            state[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            state[rel] = ("dir", path.stat().st_mode & 0o777)
        else:
            state[rel] = ("file", path.stat().st_mode & 0o777, path.read_bytes())
    return state


# --- a fake `python -m appsrc` that follows the CLI contract ------------------------------------

FAKE_MAIN = textwrap.dedent('''
    """Fake `python -m appsrc`: answers from $FAKE_APPSRC_SCRIPT and logs each call."""
    import json, os, sys
    script = json.load(open(os.environ["FAKE_APPSRC_SCRIPT"]))
    args = sys.argv[1:]
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    with open(script["log"], "a") as log:
        log.write(json.dumps({"args": args, "stdin": stdin, "euid": os.geteuid(),
                              "cwd": os.getcwd(), "data_dir": os.environ.get("CRM_DATA_DIR")}) + "\\n")
    for answer in script["answers"]:
        if args[:len(answer["prefix"])] == answer["prefix"]:
            sys.stdout.write(answer.get("stdout", ""))
            sys.stderr.write(answer.get("stderr", ""))
            sys.exit(answer.get("rc", 0))
    sys.stderr.write("fake appsrc: no answer scripted for %r\\n" % (args,))
    sys.exit(2)
''')


class FakeAppsrc:
    """A stand-in `appsrc` package on PYTHONPATH; `answer()` scripts replies by argument prefix."""

    def __init__(self, root: Path):
        self.root = root
        (root / "appsrc").mkdir(parents=True)
        (root / "appsrc" / "__init__.py").write_text("")
        (root / "appsrc" / "__main__.py").write_text(FAKE_MAIN)
        self.script = root / "script.json"
        self.log = root / "calls.jsonl"
        self.answers: list[dict] = []
        self._save()

    def answer(self, *prefix: str, rc: int = 0, stdout: str = "", stderr: str = "", json_out: object = None) -> None:
        if json_out is not None:
            stdout = json.dumps(json_out)
        # Later answers win over earlier ones with the same prefix.
        self.answers.insert(0, {"prefix": list(prefix), "rc": rc, "stdout": stdout, "stderr": stderr})
        self._save()

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def env(self, data_dir: Path, **extra: str) -> dict[str, str]:
        return script_env(data_dir, pythonpath=self.root, FAKE_APPSRC_SCRIPT=str(self.script), **extra)

    def _save(self) -> None:
        self.script.write_text(json.dumps({"log": str(self.log), "answers": self.answers}))


@pytest.fixture
def fake_appsrc(tmp_path: Path) -> FakeAppsrc:
    """A scripted `python -m appsrc` (see FakeAppsrc), for contracts not yet on main or for
    answers the real app cannot be made to give on demand (a permanent mailbox error)."""
    return FakeAppsrc(tmp_path / "fake")


# --- a service-account key like the one Google Cloud downloads ----------------------------------


@pytest.fixture(scope="session")
def rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def service_account(rsa_pem: str) -> dict:
    return {
        "type": "service_account",
        "project_id": "fund-ir-desk",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": rsa_pem,
        "client_email": "ir-desk@fund-ir-desk.iam.gserviceaccount.com",
        "client_id": "104123456789012345678",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
        "ir-desk%40fund-ir-desk.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com",
    }


def key_body(pem: str) -> str:
    """The base64 body of a PEM: what must never appear in any output."""
    return "".join(line for line in pem.splitlines() if "-----" not in line)


def load_script(path: Path):
    """Import an extension-less script as a module, to test its functions in-process (fast);
    the subprocess tests cover how StartOS runs it."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader(path.name.replace("-", "_"), str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
