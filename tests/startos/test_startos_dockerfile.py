"""The Dockerfile as text: hadolint-clean, Debian's slim base, dependencies only from the lock's
hashes, and everything the entrypoint, actions and health checks need copied in (and let through
by .dockerignore). tests/image builds and boots the image itself."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from startos_helpers import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def runs() -> list[str]:
    return [rest for keyword, rest in instructions() if keyword == "RUN"]


def hadolint() -> list[str]:
    exe = Path(sys.executable).with_name("hadolint")
    if exe.exists():
        return [str(exe)]
    if shutil.which("hadolint"):
        return ["hadolint"]
    return [sys.executable, "-m", "hadolint"]


def test_hadolint_reports_nothing():
    proc = subprocess.run(
        [*hadolint(), "--no-color", "Dockerfile"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, in order."""
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result.append([])
        result[-1].append((keyword, rest))
    return result


def test_both_stages_start_from_debians_slim_image_which_make_image_can_make():
    """No registry-only base: debian:bookworm-slim is pulled where a registry serves it and
    made from Debian's packages (image/debian-base-image) where none does."""
    bases = [stage[0][1] for stage in stages()]
    assert bases == ["debian:bookworm-slim AS build", "debian:bookworm-slim"]
    proc = subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", "-", "print-base"],
        input="print-base:\n\t@echo $(BASE_IMAGE)\n",
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.stdout.strip() == "debian:bookworm-slim", proc.stderr


def pip_installs() -> list[list[str]]:
    found = []
    for command in runs():
        for step in command.split("&&"):
            words = shlex.split(step)
            if len(words) > 2 and words[0].endswith("/pip") and words[1] == "install":
                found.append(words[2:])
    return found


def test_dependencies_come_only_from_the_lock_and_the_wheelhouse():
    """Every distribution is a wheel from build/wheelhouse/ whose hash the lock names; pip
    never resolves and never reaches an index."""
    deps, project = pip_installs()
    assert set(deps) == {
        "--no-cache-dir",
        "--no-index",
        "--find-links=/wheelhouse",
        "--require-hashes",
        "--no-deps",
        "--only-binary=:all:",
        "-r",
        "/src/requirements/runtime.lock",
    }
    assert set(project) == {"--no-cache-dir", "--no-index", "--no-deps", "--no-build-isolation", "/src"}
    assert "index-url" not in DOCKERFILE and "pip download" not in DOCKERFILE


def test_dependencies_are_installed_before_the_code_is_copied():
    """The dependency layer must not depend on appsrc/, or every code change reinstalls all."""
    build = stages()[0]
    deps = next(i for i, (k, r) in enumerate(build) if k == "RUN" and "runtime.lock" in r)
    code = next(i for i, (k, r) in enumerate(build) if k == "COPY" and r.startswith("appsrc"))
    assert deps < code
    assert [r for k, r in build[:deps] if k == "COPY"] == [
        "requirements/runtime.lock /src/requirements/runtime.lock",
        "build/wheelhouse /wheelhouse",
    ]


def test_the_final_stage_takes_only_the_venv_from_the_build():
    final = stages()[1]
    assert [r for k, r in final if k == "COPY" and r.startswith("--from")] == ["--from=build /opt/venv /opt/venv"]
    assert "pip uninstall --yes pip" in " ".join(r for k, r in stages()[0] if k == "RUN")
    apt = next(r for k, r in final if k == "RUN" and "apt-get install" in r)
    packages = apt.split("--no-install-recommends", 1)[1].split("&&", 1)[0].split()
    assert packages == ["python3", "tini", "ca-certificates"]
    assert "rm -rf /var/lib/apt/lists/*" in apt
    user = next(r for k, r in final if k == "RUN" and "useradd" in r)
    assert re.search(r"--uid 1000 .*\bapp$", user)
    # Root stays the image user: the entrypoint needs it to own the volume, then drops to app.
    assert not [r for k, r in instructions() if k == "USER"]


def env_values() -> dict[str, str]:
    values = {}
    for keyword, rest in instructions():
        if keyword == "ENV":
            values.update(dict(item.split("=", 1) for item in shlex.split(rest)))
    return values


def test_the_environment_the_scripts_expect():
    env = env_values()
    assert env["CRM_DATA_DIR"] == "/data" and env["CRM_HOST"] == "0.0.0.0"
    assert env["CRM_PORT"] == "8050" and env["CRM_APP_USER"] == "app"
    assert env["CRM_START9_DIR"] == "/opt/start9"
    assert env["PATH"].startswith("/opt/venv/bin:")  # python and the health checks' python3
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # the root file system is read-only
    # Actions and health checks run beside the entrypoint (a fresh container, or `exec` into
    # the running one) and see only the image's environment: the appliance is never the demo.
    assert env["CRM_DEMO"] == "off"
    entry = [r for k, r in instructions() if k == "ENTRYPOINT"]
    assert entry == ['["/usr/local/bin/docker_entrypoint.sh"]']


def copies() -> dict[str, str]:
    result = {}
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from="):  # from the build context
            *sources, destination = [w for w in shlex.split(rest) if not w.startswith("--")]
            result.update(dict.fromkeys(sources, destination))
    return result


def test_everything_the_entrypoint_and_scripts_use_is_copied():
    copied = copies()
    start9 = env_values()["CRM_START9_DIR"]
    assert copied["docker_entrypoint.sh"] == "/usr/local/bin/docker_entrypoint.sh"
    # The scripts import ../lib/startos_support.py; the entrypoint runs write-properties, and
    # the 0.4 package runs write-properties --print and setup-status.
    for part in ("lib", "actions", "health"):
        assert copied[f"start9/{part}"] == f"{start9}/{part}"
    assert copied["start9/write-properties"] == copied["start9/setup-status"] == f"{start9}/"
    assert copied["pyproject.toml"] == "/src/" and copied["appsrc"] == "/src/appsrc"
    assert copied["build/wheelhouse"] == "/wheelhouse"
    entrypoint = (REPO / "docker_entrypoint.sh").read_text()
    assert '"$START9_DIR/write-properties"' in entrypoint


def dockerignore_allows(path: str) -> bool:
    """Evaluate .dockerignore like Docker does for the patterns used here (last match wins)."""
    import fnmatch

    allowed = True
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        candidates = [path] + [str(p) for p in Path(path).parents if str(p) != "."]
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(Path(c).name, pattern[3:]) for c in candidates)
        else:
            hit = any(fnmatch.fnmatch(c, pattern) for c in candidates)
        if hit:
            allowed = negate
    return allowed


@pytest.mark.parametrize("path", sorted(set(copies()) - {"build/wheelhouse"}))
def test_dockerignore_lets_every_copied_path_through(path):
    assert dockerignore_allows(path)
    source = REPO / path
    files = [source] if source.is_file() else [p for p in source.rglob("*") if p.is_file()]
    assert files, path
    for file in files:
        relative = str(file.relative_to(REPO))
        assert dockerignore_allows(relative) or "__pycache__" in relative, relative


@pytest.mark.parametrize(
    "path",
    [
        "tests/startos/test_startos_dockerfile.py",
        ".venv/bin/python",
        "node_modules/@start9labs/start-sdk/package.json",
        "javascript/index.js",
        "startos/main.ts",
        "data/crm.sqlite3",
        "start9/icon.png",
        ".git/config",
        "appsrc/__pycache__/cli.cpython-311.pyc",
    ],
)
def test_dockerignore_keeps_everything_else_out(path):
    assert not dockerignore_allows(path)


def test_dockerignore_lets_the_wheelhouse_through_but_not_the_rest_of_build():
    """build/wheelhouse/ exists once `make wheelhouse` ran (tests/image builds from it)."""
    assert dockerignore_allows("build/wheelhouse/dash-4.4.1-py3-none-any.whl")
    assert not dockerignore_allows("build/image.log")
    assert not dockerignore_allows("requirements/test.lock")


@pytest.mark.parametrize("goal", [[], ["pack"]])
def test_make_packs_both_packages_with_checksums(goal):
    """`make` alone is what the manifest's `build: ["make"]` runs: it packs both packages."""
    assert yaml_build() == ["make"]
    proc = subprocess.run(
        ["make", "--no-print-directory", "-n", *goal], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # StartOS 0.4: start-cli builds the image from the Dockerfile for each architecture.
    assert (
        "start-cli s9pk pack --icon start9/icon.png --license start9/LICENSE "
        "--instructions start9/instructions.md -o dist/startos-0.4/ir-mail-desk.s9pk"
    ) in " ".join(out.replace("\\\n", " ").split())
    # StartOS 0.3.5: one buildx image per architecture, then start-sdk pack and verify.
    for arch, platform in (("x86_64", "linux/amd64"), ("aarch64", "linux/arm64")):
        assert f"docker buildx build --tag start9/ir-mail-desk/main:0.1.0 --platform={platform}" in out
        assert f"dest=docker-images/{arch}.tar" in out
    assert out.count("docker buildx build") == 2  # one build per architecture, not four
    assert "start-sdk pack" in out and "start-sdk verify s9pk ir-mail-desk.s9pk" in out
    assert "mv ir-mail-desk.s9pk dist/startos-0.3.5/ir-mail-desk.s9pk" in out
    assert "sha256sum startos-0.4/ir-mail-desk.s9pk startos-0.3.5/ir-mail-desk.s9pk >SHA256SUMS" in out


def yaml_build() -> list[str]:
    import yaml

    return yaml.safe_load((REPO / "manifest.yaml").read_text())["build"]


def dry_run(goal: str) -> str:
    """What `make -n GOAL` would run, as if nothing were built yet (-B)."""
    # Not the variables of a `make test` this suite may be running under (PYTEST_ARGS=...).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_ARGS")}
    proc = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", goal],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_run_installs_from_the_lock_migrates_and_serves():
    out = dry_run("run")
    assert "pip install --quiet --require-hashes --no-deps -r requirements/runtime.lock" in out
    assert "-m appsrc migrate" in out and "-m appsrc serve" in out
    assert "docker" not in out and "npm" not in out  # the appliance alone, no packaging


def test_make_test_builds_the_image_and_the_04_bundle_then_runs_everything():
    out = dry_run("test")
    assert "pip install --quiet --require-hashes --no-deps -r requirements/test.lock" in out
    assert "docker build --network host --tag ir-mail-desk:local ." in out
    for step in ("npm ci", "npm run --silent check", "npm run --silent lint", "npm run --silent build"):
        assert step in out
    assert out.rstrip().endswith("-m pytest -n 2")
    # Release tools never: the suite must run where they are not.
    assert "start-sdk" not in out and "start-cli" not in out and "buildx" not in out
