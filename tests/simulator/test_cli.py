"""`python -m appsrc.simulator` serves a generated team until it is signalled."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from googleapiclient.discovery import build

from .conftest import credentials_for

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_the_dataset_until_sigterm(tmp_path, key_template):
    """An existing key file is adopted, so a demo appliance survives simulator restarts."""
    key, investors = tmp_path / "key.json", tmp_path / "investors.csv"
    key.write_text(key_template)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appsrc.simulator",
            "--port",
            "0",
            "--team-size",
            "3",
            "--messages",
            "20",
            "--seed",
            "4",
            "--key-out",
            str(key),
            "--csv-out",
            str(investors),
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [process.stdout.readline() for _ in range(7)]  # url, token_uri, key, csv, 3 mailboxes
        assert lines[-1].startswith("  mailbox"), lines
        url = re.search(r"listening on (\S+)", lines[0]).group(1)
        assert json.loads(key_template)["client_id"] in lines[2]
        assert json.loads(key.read_text())["token_uri"] == url + "token"
        first_mailbox = lines[4].split()[1]
        service = build(
            "gmail",
            "v1",
            credentials=credentials_for(key, first_mailbox),
            static_discovery=True,
            client_options={"api_endpoint": url},
        )
        profile = service.users().getProfile(userId="me").execute()
        assert profile["emailAddress"] == first_mailbox and profile["messagesTotal"] >= 20
        header = next(csv.reader(io.StringIO(investors.read_text())))
        assert header == ["investor", "domains", "graveyard", "contact_name", "contact_email"]
    finally:
        process.send_signal(signal.SIGTERM)
        remaining, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "stopped" in remaining
