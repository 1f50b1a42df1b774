"""The built image, booted by Docker as StartOS runs it.

The image is `make image`'s ir-mail-desk:local. The `image` fixture runs `make image` itself,
once per run and under a lock shared by the xdist workers: with Docker's cache a tree that
has not changed rebuilds in seconds, so a test never boots an image older than the tree.

Containers use the host's network (`--network host`) and loopback addresses only: the
dashboard listens on 127.0.0.1 at a free port, and the Gmail simulator the tests start in this
process is reached on 127.0.0.1 too. Each runs with a read-only root, a tmpfs /tmp and a
temporary host directory as its /data volume, as StartOS mounts it.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = "ir-mail-desk:local"
APP_UID = 1000  # the Dockerfile's `app` user
BUILD_LOCK = REPO / "build" / ".image-test.lock"


def docker(
    *args: str, input: str | None = None, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args[:3])} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; the generous `timeout` is a bound on
    a busy 2-core machine, never a speed claim."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def image() -> str:
    """ir-mail-desk:local, built from this tree (`make image`), with Docker's engine running."""
    if shutil.which("docker") is None:
        pytest.fail("docker is not installed: `make test` installs it (Debian's docker.io)")
    BUILD_LOCK.parent.mkdir(exist_ok=True)
    with BUILD_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(
            ["make", "--no-print-directory", "-s", "docker-daemon", "image"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    assert proc.returncode == 0, f"make image failed:\n{proc.stdout}\n{proc.stderr}"
    return IMAGE


@dataclass
class Container:
    """One container of the image, as StartOS runs the service: root entrypoint, /data volume."""

    image: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    name: str = field(default_factory=lambda: f"irmd-test-{uuid.uuid4().hex[:10]}")
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *command: str) -> Container:
        """`docker run -d` with the restrictions StartOS and our rules impose."""
        environment = {"CRM_HOST": "127.0.0.1", "CRM_PORT": str(self.port), "CRM_LOG_LEVEL": "info", **self.env}
        args = [
            "run",
            "-d",
            "--name",
            self.name,
            "--network",
            "host",
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--volume",
            f"{self.data_dir}:/data",
        ]
        for key, value in environment.items():
            args += ["--env", f"{key}={value}"]
        docker(*args, self.image, *command)
        return self

    def exec(
        self, *command: str, input: str | None = None, user: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        args = ["exec", "-i"] + (["--user", user] if user else []) + [self.name, *command]
        return docker(*args, input=input, timeout=timeout, check=False)

    def action(self, action_id: str, payload: dict | None) -> subprocess.CompletedProcess:
        """A 0.3.5 action as StartOS runs it: its JSON input on stdin, the result on stdout."""
        return self.exec(
            f"/opt/start9/actions/{action_id}", input="" if payload is None else json.dumps(payload), timeout=200
        )

    def health(self, check_id: str, elapsed_ms: int) -> subprocess.CompletedProcess:
        """A health check as StartOS runs it: milliseconds since start on stdin."""
        return self.exec(f"/opt/start9/health/{check_id}", input=str(elapsed_ms), timeout=60)

    def state(self) -> dict:
        return json.loads(docker("inspect", "-f", "{{json .State}}", self.name).stdout)

    def logs(self) -> str:
        proc = docker("logs", self.name, check=False)
        return proc.stdout + proc.stderr

    def healthz(self) -> int | None:
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=3) as response:
                return response.status
        except OSError:
            return None

    def wait_healthy(self, timeout: float = 90) -> None:
        def up():
            if not self.state()["Running"]:
                raise AssertionError(f"the container stopped:\n{self.logs()[-3000:]}")
            return self.healthz() == 200

        wait_for(up, timeout, what=f"{self.base_url}/healthz")

    def remove(self) -> None:
        docker("rm", "-f", "-v", self.name, check=False, timeout=60)


@pytest.fixture
def data_volume(tmp_path: Path) -> Path:
    """An empty data volume, owned by root as StartOS creates it."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def container(image, data_volume):
    """A factory of containers of the image on one data volume; all removed at the end."""
    made: list[Container] = []

    def make(**env: str) -> Container:
        made.append(Container(image, data_volume, env=env))
        return made[-1]

    yield make
    for one in made:
        one.remove()
