"""`python -m appsrc ...`: the command line is the same app as the dashboard.

This module and `web.app.create_app` are the composition roots: they read settings and build
the real adapters; everything below receives what it needs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from appsrc.settings import SettingsError, load_settings

log = logging.getLogger("appsrc")

Command = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """A user-facing failure: printed without a traceback, exit status 1 (or `status`)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m appsrc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Command, help: str, parent=sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    command("migrate", cmd_migrate, "apply pending database migrations (idempotent)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: bad setting: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    args.settings = settings
    try:
        return args.handler(args)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130


def cmd_migrate(args: argparse.Namespace) -> int:
    from appsrc.store.db import open_database
    from appsrc.store.migrations import migrate

    db = open_database(args.settings.database_url)
    applied = migrate(db)
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0
