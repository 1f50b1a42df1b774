"""Soak the capture pipeline with 10,000+ generated and malformed messages.

Each case goes through exactly what the sync does with a fetched Gmail message — base64url
decoding, the parser, the matcher, and the idempotent store write — into a real SQLite file.
Prints how many were stored, how many skipped and why, and crashes (must be 0); then checks
that every case is accounted for exactly once. Usage: python bench/fuzz_pipeline.py [N]
"""

from __future__ import annotations

import base64
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, settings

from appsrc.clock import SystemClock
from appsrc.crm.users import add_user
from appsrc.runtime import build_runtime
from appsrc.settings import load_settings
from appsrc.store import capture as store
from appsrc.store.models import EmailAccount, EmailAccountMessage, SkippedMessage
from tests.capture.test_parser_fuzz import mime_cases

BATCH = 50


def main() -> int:
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        runtime = build_runtime(
            load_settings(
                {"CRM_DATA_DIR": tmp, "CRM_DEMO": "off", "CRM_LOG_LEVEL": "error", "CRM_OWN_DOMAINS": "fund.example"}
            ),
            SystemClock(),
            allow_demo=False,
        )
        now = runtime.clock.now()
        add_user("fuzz@fund.example", "Fuzz", now)
        account = EmailAccount.get(EmailAccount.address == "fuzz@fund.example")
        directory = runtime.directory()
        outcomes: Counter = Counter()
        crashes: list[str] = []
        pending: list[dict] = []
        counter = iter(range(10**9))

        def flush() -> None:
            batch = store.BatchWrite()
            for message in pending:
                try:
                    outcome = runtime.mailbox_sync.prepare(message, directory)
                except Exception:
                    crashes.append(traceback.format_exc(limit=4))
                    continue
                if isinstance(outcome, store.Sighting):
                    batch.sightings.append(outcome)
                    outcomes["stored"] += 1
                else:
                    batch.skipped.append(outcome)
                    outcomes[f"skipped: {outcome[1]}"] += 1
            store.apply_batch(account.id, 1, batch, now)
            pending.clear()

        @settings(
            max_examples=cases,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(mime_cases())
        def one_case(raw: bytes) -> None:
            pending.append(
                {
                    "id": f"{next(counter):016x}",
                    "threadId": "t",
                    "labelIds": ["INBOX"],
                    "raw": base64.urlsafe_b64encode(raw).decode(),
                    "snippet": "",
                    "internalDate": "1764000000000",
                }
            )
            if len(pending) >= BATCH:
                flush()

        started = time.perf_counter()
        one_case()
        flush()
        elapsed = time.perf_counter() - started
        total = sum(outcomes.values()) + len(crashes)
        stored = EmailAccountMessage.select().where(EmailAccountMessage.account == account.id).count()
        skipped = SkippedMessage.select().where(SkippedMessage.account == account.id).count()
        runtime.close()

    print(f"pipeline fuzz: {total:,} generated/malformed messages in {elapsed:.1f} s")
    for outcome, count in sorted(outcomes.items()):
        print(f"    {outcome:28} {count:>7,}")
    print(f"    {'crashes':28} {len(crashes):>7,}   (goal 0)")
    print(
        f"    store rows: {stored:,} sightings + {skipped:,} skipped = {stored + skipped:,} "
        f"(every case accounted for once: {stored + skipped == total - len(crashes)})"
    )
    for crash in crashes[:3]:
        print(crash)
    return 1 if crashes or stored + skipped != total - len(crashes) else 0


if __name__ == "__main__":
    sys.exit(main())
