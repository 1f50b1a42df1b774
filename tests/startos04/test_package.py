"""The StartOS 0.4 package as StartOS loads it: the bundle's manifest and action ids, read with
node, checked against the 0.3.5 package and the app."""

from __future__ import annotations

import json
import re
import tomllib

import yaml

from tests.startos04.conftest import REPO

LEGACY = yaml.safe_load((REPO / "manifest.yaml").read_text())


def test_the_bundles_manifest(startos):
    manifest = startos.drive("manifest").value
    print(json.dumps(manifest, indent=1))
    assert manifest["id"] == LEGACY["id"] == "ir-mail-desk"
    # ExVer: the app's version, then this package's own revision. StartOS 0.4 reads the 0.3.5
    # package's "0.1.0" as 0.1.0:0, so the native package must be above it to be an update.
    upstream, downstream = manifest["version"].split(":")
    app_version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert upstream == LEGACY["version"] == app_version
    assert int(downstream) >= 1
    assert manifest["volumes"] == list(LEGACY["volumes"]) == ["main"]
    assert manifest["images"]["main"]["source"] == {"dockerBuild": {"dockerfile": "Dockerfile", "workdir": "."}}
    assert manifest["images"]["main"]["arch"] == ["x86_64", "aarch64"]
    assert manifest["dependencies"] == {}
    package = json.loads((REPO / "package.json").read_text())
    assert manifest["sdkVersion"] == package["dependencies"]["@start9labs/start-sdk"] == "2.0.9"
    assert len(manifest["description"]["short"]) <= 80
    assert len(manifest["description"]["long"]) <= 500
    assert manifest["title"] == LEGACY["title"] and manifest["license"] == LEGACY["license"]


def test_every_dependency_is_pinned_exactly_and_locked():
    package = json.loads((REPO / "package.json").read_text())
    lock = json.loads((REPO / "package-lock.json").read_text())
    pins = {**package["dependencies"], **package["devDependencies"]}
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in pins.values()), pins
    for name, version in pins.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name
        assert lock["packages"][f"node_modules/{name}"]["integrity"].startswith("sha512-")


def test_the_actions_are_the_legacy_ones_plus_the_status_action(startos):
    ids = startos.drive("actionIds").value
    assert ids == [*LEGACY["actions"], "dashboard-status"]
    for action_id in LEGACY["actions"]:
        metadata = startos.drive("metadata", id=action_id).value
        assert metadata["name"] == LEGACY["actions"][action_id]["name"]
        legacy_statuses = LEGACY["actions"][action_id]["allowed-statuses"]
        expected = "only-running" if legacy_statuses == ["running"] else "any"
        assert metadata["allowedStatuses"] == expected, action_id
        assert metadata["hasInput"] == ("input-spec" in LEGACY["actions"][action_id])


def test_the_forms_ask_what_the_legacy_actions_ask(startos):
    """Same field ids (the image's actions read them), same required fields."""
    for action_id, legacy in LEGACY["actions"].items():
        if "input-spec" not in legacy or action_id == "configure-digest-smtp":
            continue  # the SMTP form is the SDK's standard one (test_actions.py)
        spec = startos.drive("getInput", id=action_id).value["spec"]
        assert list(spec) == list(legacy["input-spec"]), action_id
        for name, field in legacy["input-spec"].items():
            assert spec[name]["required"] == (not field.get("nullable", False)), (action_id, name)
    smtp = startos.drive("getInput", id="configure-digest-smtp").value["spec"]
    assert list(smtp) == ["smtp"]
    assert set(smtp["smtp"]["variants"]) == {"disabled", "system", "custom"}
