"""What the built image holds: Debian's Python, exactly the locked dependencies, and nothing of
the build (no pip, no compiler, no wheelhouse)."""

from __future__ import annotations

import json
import re

from tests.image.conftest import REPO, docker

# Reported in the README; a regression (a wheelhouse or a toolchain left behind, every Google
# API's discovery document) would cross it by far.
SIZE_BUDGET_MB = 330


def shell(image: str, script: str) -> str:
    proc = docker("run", "--rm", "--network", "none", "--read-only", "--entrypoint", "sh", image, "-c", script)
    return proc.stdout


def locked_versions() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", (REPO / "requirements" / "runtime.lock").read_text(), re.M)
    return {normalize(name): version for name, version in pins}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_image_has_exactly_the_locked_distributions_and_the_app(image):
    out = shell(
        image,
        "python -c 'import json, importlib.metadata as m; "
        'print(json.dumps({d.metadata["Name"]: d.version '
        "for d in m.distributions()}))'",
    )
    installed = {normalize(name): version for name, version in json.loads(out).items()}
    expected = locked_versions() | {"appsrc": "0.1.0"}
    assert installed == expected


def test_python_is_debians_311_and_nothing_of_the_build_is_left(image):
    out = shell(
        image,
        "readlink -f /opt/venv/bin/python; python -c 'import sys; "
        "print(sys.version.split()[0])'; "
        "for tool in pip pip3 gcc cc g++ make; do command -v $tool; done; "
        "python -m pip --version 2>&1 | tail -1; "
        "find / -xdev \\( -name '*.whl' -o -name wheelhouse \\) -print; "
        "ls /var/lib/apt/lists",
    )
    lines = out.splitlines()
    assert lines[0] == "/usr/bin/python3.11"
    assert lines[1].startswith("3.11.")
    assert lines[2:] == ["/opt/venv/bin/python: No module named pip"]


def test_only_the_gmail_discovery_document_is_kept(image):
    out = shell(image, "ls /opt/venv/lib/python3.11/site-packages/googleapiclient/discovery_cache/documents")
    assert out.split() == ["gmail.v1.json"]


def test_the_app_user_and_the_entrypoint(image):
    config = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", image).stdout)
    assert config["Entrypoint"] == ["/usr/local/bin/docker_entrypoint.sh"]
    assert config.get("User") in ("", None)  # root: the entrypoint gives /data to the app user
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["CRM_DEMO"] == "off" and env["CRM_DATA_DIR"] == "/data"
    assert shell(image, "id app").strip() == "uid=1000(app) gid=1000(app) groups=1000(app)"


def test_the_image_stays_small(image):
    size = int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout)
    print(f"{image}: {size / 1e6:.0f} MB")
    assert size < SIZE_BUDGET_MB * 1e6, f"{size / 1e6:.0f} MB"
