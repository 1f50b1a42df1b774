"""`python -m appsrc.simulator`: a Gmail simulator with a generated team for demos and manual runs."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import UTC, datetime

from .dataset import generate_team
from .server import GmailSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appsrc.simulator", description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--team-size", type=int, default=5)
    parser.add_argument("--investors", type=int, default=20)
    parser.add_argument("--messages", type=int, default=200, help="messages per mailbox")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--key-out", required=True, help="service-account key file to write (an existing one is reused)"
    )
    parser.add_argument("--csv-out", help="where to write the investors CSV")
    parser.add_argument("--no-quota", action="store_true", help="disable Gmail's usage limits")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)

    dataset = generate_team(
        args.seed,
        team_size=args.team_size,
        investors=args.investors,
        messages_per_mailbox=args.messages,
        now=datetime.now(UTC),
    )
    sim = GmailSimulator(host=args.host, port=args.port).start()
    sim.configure(latency_s=args.latency_ms / 1000)
    sim.quota.update(enabled=not args.no_quota)
    dataset.load_into(sim)
    # Reusing an existing key keeps an appliance configured with it working across restarts.
    if os.path.exists(args.key_out):
        key = sim.register_key_file(args.key_out)
    else:
        key = sim.make_service_account_key(args.key_out)
    if args.csv_out:
        with open(args.csv_out, "w", encoding="utf-8") as handle:
            handle.write(dataset.investors_csv())

    print(f"Gmail simulator listening on {sim.url}", flush=True)
    print(f"  token_uri  {sim.token_uri}")
    print(f"  key file   {args.key_out} (client_id {key['client_id']})")
    if args.csv_out:
        print(f"  investors  {args.csv_out}")
    for member in dataset.team:
        print(f"  mailbox    {member.address} ({len(dataset.messages_in(member.address))} messages)")
    sys.stdout.flush()

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    sim.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
