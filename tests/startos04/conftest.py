"""The StartOS 0.4 package's bundle, driven in node as StartOS would (driver.mjs), with the
image as its subcontainers (bin/start-container runs them with Docker).

Each test has its own /media/startos: a temporary directory bound over that path in a private
mount namespace (`unshare --mount`), which holds the data volume (volumes/main), the
subcontainers' roots and the backup target, as on a StartOS server.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.image.conftest import image  # noqa: F401 - the built image, a fixture

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BUNDLE = REPO / "javascript" / "index.js"
BUILD_LOCK = REPO / "build" / ".startos-test.lock"
MOUNT = shutil.which("mount") or "/usr/bin/mount"


@pytest.fixture(scope="session")
def bundle() -> Path:
    """javascript/index.js, built from this tree (`make startos`: npm ci, tsc, lint, ncc)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are not installed: `make test` installs them")
    BUILD_LOCK.parent.mkdir(exist_ok=True)
    with BUILD_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(
            ["make", "--no-print-directory", "-s", "startos"], cwd=REPO, capture_output=True, text=True, timeout=600
        )
    assert proc.returncode == 0, f"make startos failed:\n{proc.stdout}\n{proc.stderr}"
    return BUNDLE


@dataclass
class Driven:
    ok: bool
    value: object = None
    error: str | None = None
    calls: list[dict] = field(default_factory=list)

    def called(self, method: str) -> list:
        return [call["args"] for call in self.calls if call["method"] == method]


@dataclass
class StartOS:
    """One StartOS server's view of the package: its /media/startos, and the driver."""

    root: Path
    image: str

    @property
    def volume(self) -> Path:
        return self.root / "volumes" / "main"

    env: dict[str, str] = field(default_factory=dict)

    def drive(self, op: str, **request) -> Driven:
        request["op"] = op
        env = dict(
            os.environ,
            STARTOS_TEST_ROOT=str(self.root),
            STARTOS_TEST_IMAGE=self.image,
            STARTOS_TEST_ENV="\n".join(f"{k}={v}" for k, v in self.env.items()),
            PATH=f"{HERE / 'bin'}:{os.environ['PATH']}",
        )
        # The real mount (bin/ has the subcontainers' stand-in first on PATH).
        script = '"$0" --bind "$1" /media/startos && exec node "$2" "$3"'
        proc = subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                MOUNT,
                str(self.root),
                str(HERE / "driver.mjs"),
                json.dumps(request),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.strip().splitlines()
        assert lines, proc.stderr
        out = json.loads(lines[-1])
        return Driven(out["ok"], out.get("value"), out.get("error"), out["calls"])

    def run_action(self, action_id: str, input: dict | None = None, **state) -> Driven:
        return self.drive("run", id=action_id, input=input or {}, **state)


@pytest.fixture
def startos(bundle, image, tmp_path) -> StartOS:
    """A fresh StartOS server with the package installed: an empty data volume."""
    if os.geteuid() != 0:
        pytest.fail("the 0.4 package tests need root (a mount namespace, Docker)")
    Path("/media/startos").mkdir(parents=True, exist_ok=True)  # the mount point, left empty
    root = tmp_path / "media-startos"
    for part in ("volumes/main", "subcontainers", "backup", "images"):
        (root / part).mkdir(parents=True)
    # What StartOS records of the image when it installs the package: its entrypoint, command,
    # user and working directory (an empty user or directory means root and /).
    config = json.loads(
        subprocess.run(
            ["docker", "image", "inspect", "-f", "{{json .Config}}", image], capture_output=True, text=True, check=True
        ).stdout
    )
    (root / "images" / "main.json").write_text(
        json.dumps(
            {
                "entrypoint": config.get("Entrypoint") or [],
                "cmd": config.get("Cmd") or [],
                "user": config.get("User") or "root",
                "workdir": config.get("WorkingDir") or "/",
            }
        )
    )
    return StartOS(root, image)
