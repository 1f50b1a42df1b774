"""Mutation testing of the pure rules: how many small changes to each rule its tests catch.

Each rule is mutated alone, in a throwaway copy of the repository under build/mutation/, with
only its own tests run against each mutant (mutmut 3), so the whole run fits on two cores. It
prints, per rule, mutants killed / tested and the score against the goal (90 %), then the
survivors (`mutmut show <name>` in that copy shows one). Run it with `make mutation`; it is not
part of `make test`.

Usage: python tools/mutation.py [rule ...]   (default: every rule below)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "mutation"
GOAL = 0.90


@dataclass(frozen=True)
class Rule:
    name: str
    source: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()  # only these functions' mutants count (all when empty)


RULES = (
    Rule(
        "matcher",
        "appsrc/matching/matcher.py",
        ("tests/capture/test_matcher.py", "tests/crm/test_graveyard_return.py", "tests/capture/test_groups.py"),
    ),
    Rule(
        "addresses",
        "appsrc/matching/addresses.py",
        ("tests/matching/test_addresses.py", "tests/capture/test_parser.py"),
    ),
    Rule("direction", "appsrc/matching/direction.py", ("tests/matching/test_direction.py",)),
    Rule(
        "digest builder",
        "appsrc/digest/builder.py",
        ("tests/digest/test_builder.py", "tests/digest/test_builder_rules.py"),
    ),
    Rule(
        "scheduler",
        "appsrc/digest/scheduler.py",
        ("tests/digest/test_scheduler.py",),
        functions=("decide", "window_for"),
    ),
    Rule(
        "reply recipients",
        "appsrc/crm/compose.py",
        ("tests/drafts/test_compose.py",),
        functions=("reply_recipients", "_people"),
    ),
)


def configure(copy: Path, rule: Rule) -> None:
    """The copy's pyproject.toml with a [tool.mutmut] section for this rule alone."""
    tests = ", ".join(f'"{t}"' for t in rule.tests)
    section = (
        "\n[tool.mutmut]\n"
        'source_paths = ["appsrc/"]\n'
        f'only_mutate = ["{rule.source}"]\n'
        f"pytest_add_cli_args_test_selection = [{tests}]\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:randomly", "-q"]\n'
    )
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8") + section, encoding="utf-8")


def counts(copy: Path, rule: Rule) -> tuple[int, int, list[str]]:
    """(killed, tested, survivors) for this rule's functions, from mutmut's own records."""
    module = rule.source.removesuffix(".py").replace("/", ".")
    results = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    killed, tested, survivors = 0, 0, []
    for line in results.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name.startswith(module + "."):
            continue
        function = name.removeprefix(module + ".").split("__mutmut_")[0].removeprefix("x_").removeprefix("xǁ")
        if rule.functions and function not in rule.functions:
            continue
        if status in ("no tests", "skipped"):
            continue
        tested += 1
        if status in ("killed", "timeout", "segfault", "caught by type check"):
            killed += 1
        else:
            survivors.append(f"{name} ({status})")
    return killed, tested, survivors


def run(rule: Rule, jobs: int) -> tuple[int, int, list[str]]:
    copy = WORK / rule.name.replace(" ", "-")
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir(parents=True)
    for part in ("appsrc", "tests"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__", "corpus-big"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    configure(copy, rule)
    subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
        cwd=copy,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return counts(copy, rule)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rules", nargs="*", help="rule names (default: all)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    chosen = [r for r in RULES if not args.rules or r.name in args.rules]
    report = {}
    for rule in chosen:
        killed, tested, survivors = run(rule, args.jobs)
        score = killed / tested if tested else 0.0
        report[rule.name] = {"killed": killed, "tested": tested, "score": round(score, 4), "survivors": survivors}
        verdict = "meets" if score >= GOAL else "BELOW"
        print(
            f"{rule.name:18} {killed:4d} / {tested:4d} killed  {score:6.1%}  {verdict} the {GOAL:.0%} goal", flush=True
        )
        for survivor in survivors:
            print(f"    survived: {survivor}")
    (WORK / "report.json").write_text(json.dumps(report, indent=2))
    return 0 if all(r["score"] >= GOAL for r in report.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
