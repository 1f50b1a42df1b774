"""manifest.yaml against every rule StartOS 0.3.5 enforces (and 0.4's loader of legacy packages
needs), plus: every file it names exists, in the repo and in the image.

There is no official schema, so these tests are the schema. Unknown keys only warn at pack time,
which is why key sets are compared exactly.
"""

from __future__ import annotations

import os
import re
import struct
import tomllib
import zlib
from pathlib import Path

import pytest
import startos_support as support
import yaml
from startos_helpers import ACTIONS, REPO, load_script

MANIFEST_TEXT = (REPO / "manifest.yaml").read_text()
MANIFEST = yaml.safe_load(MANIFEST_TEXT)
ID = re.compile(r"^[a-z]+(-[a-z]+)*$")

REQUIRED = {
    "id",
    "title",
    "version",
    "release-notes",
    "license",
    "wrapper-repo",
    "upstream-repo",
    "description",
    "main",
    "health-checks",
    "config",
    "properties",
    "volumes",
    "interfaces",
    "backup",
    "dependencies",
    "actions",
}
OPTIONAL = {
    "support-site",
    "marketing-site",
    "donation-url",
    "build",
    "assets",
    "alerts",
    "migrations",
    "hardware-requirements",
}
PROCEDURE_KEYS = {"type", "image", "system", "entrypoint", "args", "mounts", "io-format", "inject", "sigterm-timeout"}
IO_FORMATS = {"json", "json-pretty", "yaml", "cbor", "toml", "toml-pretty"}
APP_PORT = 8050


def procedures():
    """Every procedure in the manifest, named by where it sits."""
    found = {
        "main": MANIFEST["main"],
        "properties": MANIFEST["properties"],
        "backup.create": MANIFEST["backup"]["create"],
        "backup.restore": MANIFEST["backup"]["restore"],
    }
    for name, check in MANIFEST["health-checks"].items():
        found[f"health-checks.{name}"] = {
            k: v for k, v in check.items() if k not in {"name", "success-message", "timeout"}
        }
    for name, action in MANIFEST["actions"].items():
        found[f"actions.{name}"] = action["implementation"]
    if MANIFEST["config"]:
        found["config.get"], found["config.set"] = MANIFEST["config"]["get"], MANIFEST["config"]["set"]
    for direction in ("from", "to"):
        for version, procedure in (MANIFEST.get("migrations") or {}).get(direction, {}).items():
            found[f"migrations.{direction}.{version}"] = procedure
    return found


# --- top level ----------------------------------------------------------------------------------


def test_top_level_keys_are_exactly_known_ones():
    keys = set(MANIFEST)
    assert keys >= REQUIRED, f"missing: {REQUIRED - keys}"
    assert keys <= REQUIRED | OPTIONAL, f"unknown (a typo is silently ignored): {keys - REQUIRED - OPTIONAL}"


def test_id_title_version_and_descriptions():
    assert ID.match(MANIFEST["id"])
    assert len(MANIFEST["title"]) < 30
    assert isinstance(MANIFEST["version"], str)
    assert re.fullmatch(r"\d+(\.\d+){0,3}", MANIFEST["version"])
    # Quoted in the file itself: YAML would read an unquoted 1.0 as a float.
    assert re.search(r'^version: "[0-9.]+"$', MANIFEST_TEXT, re.M)
    assert set(MANIFEST["description"]) == {"short", "long"}
    assert 0 < len(MANIFEST["description"]["short"]) <= 160
    assert 0 < len(MANIFEST["description"]["long"]) <= 5000
    assert MANIFEST["release-notes"].strip()
    assert MANIFEST["license"] == "MIT"
    for key in ("wrapper-repo", "upstream-repo", "support-site"):
        assert MANIFEST[key].startswith("https://")
    assert MANIFEST["config"] is None
    assert MANIFEST["dependencies"] == {}


def test_version_matches_the_python_project():
    """The image tag (start9/<id>/main:<version>) and the app's version move together."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert MANIFEST["version"] == project["version"]


def test_every_id_matches_the_id_pattern():
    ids = [
        MANIFEST["id"],
        *MANIFEST["actions"],
        *MANIFEST["health-checks"],
        *MANIFEST["volumes"],
        *MANIFEST["interfaces"],
    ]
    ids += [p["image"] for p in procedures().values() if p["type"] == "docker"]
    bad = [i for i in ids if not ID.match(i)]
    assert not bad, bad
    assert not {"config", "properties"} & set(MANIFEST["actions"])


def test_alerts():
    assert set(MANIFEST["alerts"]) <= {"install", "uninstall", "restore", "start", "stop"}
    start = MANIFEST["alerts"]["start"]
    assert "Create Admin" in start and "Configure Gmail Delegation" in start


# --- procedures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", sorted(procedures()))
def test_procedure_shape(where):
    procedure = procedures()[where]
    assert procedure["type"] in {"docker", "script"}
    if procedure["type"] == "script":
        return
    assert set(procedure) <= PROCEDURE_KEYS, set(procedure) - PROCEDURE_KEYS
    assert procedure["image"] and procedure["entrypoint"]
    assert isinstance(procedure.get("args", []), list)
    if procedure.get("system"):
        assert procedure["image"] in {"compat", "utils"}
    else:
        assert procedure["image"] == "main"
    if "io-format" in procedure:
        assert procedure["io-format"] in IO_FORMATS
    for volume, path in (procedure.get("mounts") or {}).items():
        assert volume in MANIFEST["volumes"] or volume == "BACKUP"
        assert path.startswith("/")
    if "BACKUP" in (procedure.get("mounts") or {}):
        assert where.startswith("backup.")


def test_main():
    main = MANIFEST["main"]
    assert main == {
        "type": "docker",
        "image": "main",
        "entrypoint": "docker_entrypoint.sh",
        "args": [],
        "mounts": {"main": "/data"},
    }


def test_volumes_and_backups():
    assert MANIFEST["volumes"] == {"main": {"type": "data"}}
    for verb in ("create", "restore"):
        assert MANIFEST["backup"][verb] == {
            "type": "docker",
            "image": "compat",
            "system": True,
            "entrypoint": "compat",
            "args": ["duplicity", verb, "/mnt/backup", "/data"],
            "mounts": {"BACKUP": "/mnt/backup", "main": "/data"},
            "io-format": "yaml",
        }


def test_properties_are_served_from_the_file_the_package_writes():
    props = MANIFEST["properties"]
    assert props["image"] == "compat" and props["system"] is True
    assert props["entrypoint"] == "compat"
    mount = props["mounts"]["main"]
    assert props["args"][0] == "properties"
    written = support.properties_path(Path(mount))
    assert props["args"][1] == str(written)


def test_health_checks():
    checks = MANIFEST["health-checks"]
    assert set(checks) == {"web-ui", "capture"}
    for check in checks.values():
        assert check["name"] and check["success-message"]
        assert check["inject"] is True and check["image"] == "main"  # in the running container


# --- interfaces ---------------------------------------------------------------------------------

# StartOS 0.3.5's Interface, TorConfig and LanPortConfig (net/interface.rs): nothing else.
INTERFACE_REQUIRED = {"name", "description", "ui", "protocols"}
INTERFACE_OPTIONAL = {"tor-config", "lan-config"}


def test_interfaces():
    for interface in MANIFEST["interfaces"].values():
        keys = set(interface)
        assert keys >= INTERFACE_REQUIRED, INTERFACE_REQUIRED - keys
        assert keys <= INTERFACE_REQUIRED | INTERFACE_OPTIONAL, keys - INTERFACE_REQUIRED - INTERFACE_OPTIONAL
        assert isinstance(interface["ui"], bool)
        protocols = set(interface["protocols"])
        if "tor-config" in interface:
            assert set(interface["tor-config"]) == {"port-mapping"}
            assert "tcp" in protocols
            for external, internal in interface["tor-config"]["port-mapping"].items():
                assert isinstance(external, int) and isinstance(internal, str)
                assert int(internal) == APP_PORT
        if "lan-config" in interface:
            assert "http" in protocols
            for external, lan in interface["lan-config"].items():
                assert isinstance(external, int)
                assert set(lan) == {"ssl", "internal"}, set(lan)
                assert isinstance(lan["internal"], int) and lan["internal"] == APP_PORT
                assert isinstance(lan["ssl"], bool)
        if interface["ui"]:
            assert protocols & {"http", "https"}
    main = MANIFEST["interfaces"]["main"]
    assert main["lan-config"] == {443: {"ssl": True, "internal": APP_PORT}}  # LAN over TLS
    assert main["tor-config"]["port-mapping"] == {80: str(APP_PORT)}


# --- actions ------------------------------------------------------------------------------------

EXPECTED_INPUTS = {
    "create-admin": {"email", "name"},
    "configure-gmail-delegation": {"service-account-json", "own-domains"},
    "configure-digest": {"timezone", "llm-url", "llm-model", "sender"},
    "configure-digest-smtp": {"host", "port", "security", "username", "password", "from"},
    "check-gmail-delegation": set(),
}
SECRET_FIELDS = {"password", "service-account-json"}
# The keys each input-spec field type may have, from StartOS 0.3.5's ValueSpecAny
# (config/spec.rs): every type has name/description/warning (WithDescription), plus these.
# An unknown key only warns at pack time, so a typo (`textaera`) would silently do nothing.
FIELD_KEYS = {
    "string": {
        "default",
        "nullable",
        "pattern",
        "pattern-description",
        "textarea",
        "copyable",
        "masked",
        "placeholder",
    },
    "number": {"default", "nullable", "range", "integral", "units", "placeholder"},
    "boolean": {"default"},
    "enum": {"default", "values", "value-names"},
}
COMMON_FIELD_KEYS = {"type", "name", "description", "warning"}
RUST_REGEX_UNSUPPORTED = re.compile(r"\(\?[=!<]|\\[1-9]")  # lookaround, backreferences


def test_the_actions_are_the_scripts():
    scripts = {p.name for p in ACTIONS.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert set(MANIFEST["actions"]) == set(EXPECTED_INPUTS) == scripts


@pytest.mark.parametrize("action_id", sorted(EXPECTED_INPUTS))
def test_action_declaration(action_id):
    action = MANIFEST["actions"][action_id]
    assert set(action) <= {"name", "description", "warning", "allowed-statuses", "implementation", "input-spec"}
    assert action["name"] and action["description"]
    statuses = action["allowed-statuses"]
    assert statuses and set(statuses) <= {"running", "stopped"}
    implementation = action["implementation"]
    assert implementation["type"] == "docker" and implementation["io-format"] == "json"
    assert implementation["entrypoint"] == f"/opt/start9/actions/{action_id}"
    if implementation["inject"]:
        assert statuses == ["running"]  # it runs inside the main container
    else:
        assert implementation["mounts"] == {"main": "/data"}  # a fresh container sees only this
    if "input-spec" in action:
        assert "warning" not in action  # not shown by 0.3.5 with an input-spec


@pytest.mark.parametrize("action_id", sorted(EXPECTED_INPUTS))
def test_input_spec_fields(action_id):
    spec = MANIFEST["actions"][action_id].get("input-spec") or {}
    assert set(spec) == EXPECTED_INPUTS[action_id]
    for key, value in spec.items():
        assert value["type"] in {"string", "number", "boolean", "enum", "list", "object", "union", "pointer"}
        # list/object/union/pointer are not used here: add their key sets before using one.
        assert value["type"] in FIELD_KEYS, f"{key}: no key set for type {value['type']}"
        unknown = set(value) - COMMON_FIELD_KEYS - FIELD_KEYS[value["type"]]
        assert not unknown, f"{key}: unknown keys {sorted(unknown)} (a typo is silently ignored)"
        assert value["name"]
        if value["type"] in {"string", "number"}:
            assert isinstance(value["nullable"], bool), key
        if value["type"] in {"boolean", "enum"}:
            assert "default" in value, key
        if value["type"] == "enum":
            assert value["default"] in value["values"]
            assert set(value.get("value-names", {})) <= set(value["values"])
        if value["type"] == "number" and "range" in value:
            assert re.fullmatch(r"[\[(]-?\d*,-?\d*[\])]", value["range"]), value["range"]
        assert ("pattern" in value) == ("pattern-description" in value), key
        if "pattern" in value:
            re.compile(value["pattern"])
            assert not RUST_REGEX_UNSUPPORTED.search(value["pattern"])
        for flag in ("masked", "textarea", "copyable", "integral"):
            assert isinstance(value.get(flag, False), bool)
        if value["type"] == "string" and "default" in value:
            assert isinstance(value["default"], str)
        if key in SECRET_FIELDS:
            assert value.get("masked") is True, f"{key} is a secret: mask it"


def test_the_service_account_key_field_is_a_masked_textarea():
    key = MANIFEST["actions"]["configure-gmail-delegation"]["input-spec"]["service-account-json"]
    assert key["type"] == "string"
    assert key["textarea"] is True and key["masked"] is True


def test_input_patterns_accept_what_the_scripts_accept():
    smtp = MANIFEST["actions"]["configure-digest-smtp"]["input-spec"]
    for host in ("smtp.fund.com", "10.0.0.25", "2001:db8::25", "mailrelay"):
        assert re.match(smtp["host"]["pattern"], host)
    email = MANIFEST["actions"]["create-admin"]["input-spec"]["email"]["pattern"]
    assert re.match(email, "alice@fund.com") and not re.match(email, "alice")
    digest = MANIFEST["actions"]["configure-digest"]["input-spec"]
    for zone in ("UTC", "Europe/London", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "America/Port-au-Prince"):
        assert re.match(digest["timezone"]["pattern"], zone), zone
    assert re.match(digest["timezone"]["pattern"], digest["timezone"]["default"])
    for url in ("http://llm.fund.lan:8000", "https://10.0.0.7/v1", "http://[fd00::7]:8080"):
        assert re.match(digest["llm-url"]["pattern"], url), url
    assert not re.match(digest["llm-url"]["pattern"], "llm.fund.lan:8000")
    assert re.match(digest["sender"]["pattern"], "ir-desk@fund.com")


def test_the_smtp_security_choices_are_the_scripts():
    script = load_script(ACTIONS / "configure-digest-smtp")
    spec = MANIFEST["actions"]["configure-digest-smtp"]["input-spec"]["security"]
    assert set(spec["values"]) == set(script.SECURITY_DEFAULT_PORTS)


# --- files named by the manifest ----------------------------------------------------------------


def dockerfile_copies() -> list[tuple[str, str]]:
    copies = []
    for line in (REPO / "Dockerfile").read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
            args = [p for p in parts[1:] if not p.startswith("--")]
            copies += [(src, args[-1]) for src in args[:-1]]
    return copies


def repo_file_for_image_path(image_path: str) -> Path | None:
    """The repository file the Dockerfile copies to `image_path` (None if nothing does)."""
    for src, dst in dockerfile_copies():
        if image_path == dst:
            return REPO / src
        if image_path.startswith(dst.rstrip("/") + "/"):
            return REPO / src / image_path[len(dst.rstrip("/")) + 1 :]
    return None


@pytest.mark.parametrize(
    "where", sorted(w for w, p in procedures().items() if p["type"] == "docker" and p["image"] == "main")
)
def test_every_entrypoint_exists_in_the_image_and_is_executable(where):
    entrypoint = procedures()[where]["entrypoint"]
    if not entrypoint.startswith("/"):  # resolved through PATH in the image
        entrypoint = f"/usr/local/bin/{entrypoint}"
    source = repo_file_for_image_path(entrypoint)
    assert source is not None, f"{entrypoint} is not copied by the Dockerfile"
    assert source.is_file(), f"{source} does not exist"
    assert os.access(source, os.X_OK), f"{source} is not executable"
    assert source.read_text().startswith("#!")


def test_assets_exist_and_are_within_limits():
    assets = MANIFEST["assets"]
    assert set(assets) <= {"license", "icon", "instructions", "docker-images", "assets", "scripts"}
    for key in ("license", "icon", "instructions"):
        assert (REPO / assets[key]).is_file(), assets[key]
    assert "MIT License" in (REPO / assets["license"]).read_text()
    icon = (REPO / assets["icon"]).read_bytes()
    assert len(icon) <= 100 * 1024
    assert_valid_png(icon)


def assert_valid_png(data: bytes) -> None:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, idat = 8, [], b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append(kind)
        if kind == b"IDAT":
            idat += body
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        offset += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"
    assert width == height >= 128
    assert len(zlib.decompress(idat)) == height * (1 + width * 4)  # RGBA rows, filter byte each


def test_instructions_cover_the_setup():
    text = (REPO / MANIFEST["assets"]["instructions"]).read_text()
    assert ",".join(support.GMAIL_SCOPES) in text
    assert "investor,domains,graveyard,contact_name,contact_email" in text
    for action in MANIFEST["actions"].values():
        # "Configure Digest" is also inside "Configure Digest SMTP": match the bold name.
        assert f"**Actions > {action['name']}**" in text, action["name"]
    for words in ("Client ID", "Users", "Digest", "Sync now", "python -m appsrc users add"):
        assert words in text, words
    # The package never runs the developer demo (CRM_DEMO=off): the guide must not promise it.
    assert "demo" not in text.lower()


def test_the_start_alert_matches_the_appliance():
    start = MANIFEST["alerts"]["start"]
    assert "demo" not in start.lower()
    assert "Configure Digest" in start
