"""Scale-out benchmark: several worker processes on one PostgreSQL.

(a) local throughput, zero latency, no quota: the backfill of 8 mailboxes by 1 worker process,
    then by 2, each on a fresh database; messages per second and the ratio   goal >= 1.7x
(b) 40 mailboxes behind a project quota lower than their users' quotas together, 30 ms
    latency, 2 worker processes: the share of the project quota they reach once warmed up,
    and the 429s Gmail answers after warm-up                         goal >= 0.95, zero 429s

It starts a throwaway PostgreSQL cluster (Debian's server binaries, as `make test` does), the
Gmail simulator in its own process, and real `python -m appsrc worker` processes.
Usage: python bench/scale.py [--parts ab] [--quick]
"""

from __future__ import annotations

import argparse
import glob
import multiprocessing as mp
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_RATIO = 1.7
GOAL_SHARE = 0.95
WARM_UP_S = 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres():
    """A throwaway cluster on 127.0.0.1; yields a function making a fresh database URL."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        sys.exit("PostgreSQL server binaries are not installed (make test installs them)")
    bindir = os.path.dirname(binaries[-1])
    top = Path(tempfile.mkdtemp(prefix="scale-pg-"))
    top.chmod(0o755)
    data = top / "data"
    data.mkdir(mode=0o700)
    run_as: list[str] = []
    if os.geteuid() == 0:
        pwd.getpwnam("postgres")
        shutil.chown(data, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*run_as, f"{bindir}/initdb", "-D", str(data), "-U", "crm", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        [*run_as, f"{bindir}/pg_ctl", "-D", str(data), "-l", str(data / "log"), "-w", "-o", options, "start"],
        check=True,
        capture_output=True,
    )
    made = []

    def fresh() -> str:
        name = f"scale{len(made)}"
        made.append(name)
        subprocess.run(
            [*run_as, f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "crm", name],
            check=True,
            capture_output=True,
        )
        return f"postgresql://crm@127.0.0.1:{port}/{name}"

    try:
        yield fresh
    finally:
        subprocess.run([*run_as, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


def _simulator(conn, spec: dict) -> None:
    from appsrc.simulator import GmailSimulator, generate_mailbox_stream

    sim = GmailSimulator()
    sim.start()
    sim.quota.update(
        enabled=spec["quota"], project_units_per_s=spec["project_rate"], project_burst=spec["project_rate"] * 60
    )
    sim.configure(latency_s=spec["latency_s"])
    for address in spec["mailboxes"]:
        sim.add_mailbox(address)
        for message in generate_mailbox_stream(hash(address) % 1000, address, spec["messages"]):
            sim.insert_message(
                address, message.raw, label_ids=message.label_ids, internal_date_ms=message.internal_date_ms
            )
    sim.make_service_account_key(spec["key_path"])
    conn.send({"url": sim.url, "history": {a: sim.history_id(a) for a in spec["mailboxes"]}})
    while True:
        request = conn.recv()
        if request == "stop":
            break
        conn.send({"units": sim.units_used(), "throttled": sim.call_count(status=429)})
    sim.stop()


@contextmanager
def simulator(**spec):
    parent, child = mp.Pipe()
    proc = mp.Process(target=_simulator, args=(child, spec), daemon=True)
    proc.start()
    child.close()
    info = parent.recv()

    def stats() -> dict:
        parent.send("stats")
        return parent.recv()

    info["stats"] = stats
    try:
        yield info
    finally:
        parent.send("stop")
        proc.join(timeout=30)


def run_fleet(
    workers: int,
    mailboxes: list[str],
    messages: int,
    *,
    url_of,
    latency_s: float,
    quota_rate: float | None,
    extra_env: dict[str, str] | None = None,
):
    """Backfill `mailboxes` with `workers` processes; returns (seconds, messages stored, samples
    of (seconds since start, units, 429s))."""
    from appsrc.clock import SystemClock
    from appsrc.crm.users import add_user
    from appsrc.runtime import build_runtime
    from appsrc.settings import load_settings
    from appsrc.store.bare import write_capture_scope
    from appsrc.store.models import EmailAccount

    with tempfile.TemporaryDirectory() as data_dir:
        key_path = Path(data_dir) / "secrets" / "dwd" / "service_account.json"
        key_path.parent.mkdir(parents=True)
        database_url = url_of()
        spec = {
            "mailboxes": mailboxes,
            "messages": messages,
            "latency_s": latency_s,
            "quota": quota_rate is not None,
            "project_rate": quota_rate or 20_000.0,
            "key_path": str(key_path),
        }
        with simulator(**spec) as sim:
            env = {
                "CRM_DATA_DIR": data_dir,
                "CRM_DATABASE_URL": database_url,
                "CRM_DEMO": "off",
                "CRM_GMAIL_API_ENDPOINT": sim["url"],
                "CRM_OWN_DOMAINS": "fund.example",
                "CRM_LOG_LEVEL": "warning",
                **({"CRM_GMAIL_PROJECT_QUOTA": str(int(quota_rate * 60))} if quota_rate else {}),
                **({} if quota_rate else {"CRM_SYNC_QUOTA_FRACTION": "1000"}),
                **(extra_env or {}),
            }
            rt = build_runtime(load_settings(env), SystemClock(), allow_demo=False)
            write_capture_scope("all", rt.clock.now())
            for address in mailboxes:
                add_user(address, address.split("@")[0], rt.clock.now())
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "appsrc", "worker"],
                    env={**os.environ, **env},
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for _ in range(workers)
            ]
            started = time.monotonic()
            samples = []
            try:
                while True:
                    rows = list(EmailAccount.select(EmailAccount.history_id, EmailAccount.address))
                    stats = sim["stats"]()
                    samples.append((time.monotonic() - started, stats["units"], stats["throttled"]))
                    if all(r.history_id == str(sim["history"][r.address]) for r in rows):
                        break
                    if time.monotonic() - started > 900:
                        raise RuntimeError("the fleet did not finish in 15 minutes")
                    time.sleep(0.25)
                elapsed = time.monotonic() - started
                stored = sum(r.stored_count for r in EmailAccount.select())
                cpu = sum(_cpu_seconds(proc.pid) for proc in procs)
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    proc.wait(timeout=60)
                rt.close()
    return elapsed, stored, samples, cpu


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def part_a(url_of, quick: bool) -> None:
    mailboxes = [f"m{i}@fund.example" for i in range(8)]
    messages = 300 if quick else 1500
    print(f"(a) local throughput: {len(mailboxes)} mailboxes x {messages:,} messages, zero latency, no quota")
    rates = {}
    for workers in (1, 2):
        elapsed, stored, _, cpu = run_fleet(workers, mailboxes, messages, url_of=url_of, latency_s=0.0, quota_rate=None)
        rates[workers] = stored / elapsed
        print(
            f"    {workers} worker process(es): {stored:,} messages in {elapsed:.1f} s = {rates[workers]:,.0f} msg/s; "
            f"the workers used {cpu:.1f} CPU-seconds ({cpu / elapsed:.2f} cores, "
            f"{stored / cpu:,.0f} msg per CPU-second)"
        )
    ratio = rates[2] / rates[1]
    print(
        f"    2 vs 1: {ratio:.2f}x  {'OK' if ratio >= GOAL_RATIO else 'under the goal'} (goal >= {GOAL_RATIO}x; "
        f"{os.cpu_count()} CPU(s) here, shared with PostgreSQL and the simulator)"
    )


def part_b(url_of, quick: bool) -> None:
    mailboxes = [f"m{i:02d}@fund.example" for i in range(40)]
    messages = 100 if quick else 300
    rate = 1500.0
    print(
        f"\n(b) project quota: {len(mailboxes)} mailboxes x {messages} messages, 30 ms latency, 2 worker "
        f"processes, a project quota of {rate:,.0f} units/s (below the users' {len(mailboxes) * 250:,} together)"
    )
    # 16 mailboxes at a time per worker: together they could draw far more than the project's share.
    elapsed, stored, samples, _cpu = run_fleet(
        2, mailboxes, messages, url_of=url_of, latency_s=0.03, quota_rate=rate, extra_env={"CRM_WORKER_SYNCS": "16"}
    )
    warm = next((s for s in samples if s[0] >= WARM_UP_S), samples[0])
    # Up to the last sample still drawing at full pace (the tail is mailboxes finishing alone).
    end = max((s for s in samples if s[0] <= elapsed - 2), key=lambda s: s[0], default=samples[-1])
    share = (end[1] - warm[1]) / max(end[0] - warm[0], 1e-6) / rate
    late_429 = samples[-1][2] - warm[2]
    print(
        f"    {stored:,} messages in {elapsed:.1f} s; after {WARM_UP_S:.0f} s of warm-up: {share:.3f} of the "
        f"project quota, {late_429} answers 429  "
        f"{'OK' if share >= GOAL_SHARE and late_429 == 0 else 'under the goal'} (goal >= {GOAL_SHARE}, zero 429s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="ab")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    mp.set_start_method("spawn")
    with postgres() as url_of:
        if "a" in args.parts:
            part_a(url_of, args.quick)
        if "b" in args.parts:
            part_b(url_of, args.quick)


if __name__ == "__main__":
    main()
