"""The repository stands alone: no text in it points at papers outside it (a sibling folder, a
design document, an issue tracker's numbers, "the spec"). What a reader needs is written here."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIBLING = ".." + "/" + "shared"  # the working papers beside the repository (spelled so, not found here)
OUTSIDE = re.compile(
    re.escape(SIBLING) + r"|\bdesign\.md\b|\bnotes/[\w-]+\.md|\bthe spec\b|\bspec's\b|\bspec test list\b"
    r"|\b[Ii]ssue #?\d+\b|\bTier-[AB]\b|\bseed-email-capture\b"
)
SKIPPED_SUFFIXES = {".lock", ".png", ".ico", ".svg", ".eml", ".json"}


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    paths = [ROOT / name for name in listed.decode().split("\0") if name]
    return [
        p
        for p in paths
        if p.is_file()
        and p.suffix not in SKIPPED_SUFFIXES
        and not p.name.startswith("package-lock")
        and p.relative_to(ROOT).parts[0] != "javascript"
    ]


def test_nothing_points_outside_the_repository():
    found = []
    for path in tracked_text_files():
        if path == Path(__file__):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert found == []


def test_the_pattern_sees_each_kind_of_reference():
    for text in (
        f"see {SIBLING}/notes",
        "as design.md says",
        "notes/gmail-api.md",
        "the spec's panel",
        "fixed in issue 12",
        "Tier-B replies",
        "spec test list",
    ):
        assert OUTSIDE.search(text), text
    for text in ("issue a token", "the investor's notes", "a specification of SMTP"):
        assert not OUTSIDE.search(text), text
