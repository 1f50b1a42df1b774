"""`python -m appsrc ...`: the command line is the same app as the dashboard.

This module and `web.app.create_app` are the composition roots: they read settings and build
the real adapters; everything below receives what it needs.
"""

from __future__ import annotations

import argparse
import json
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

    command("serve", cmd_serve, "run the dashboard and API (production WSGI server) with the worker")
    command("worker", cmd_worker, "run the background loop alone: mailbox syncs and the digest")
    command("migrate", cmd_migrate, "apply pending database migrations (idempotent)")
    p = command("sync", cmd_sync, "one sync pass over every enabled mailbox; non-zero exit if any failed")
    p.add_argument("--mailbox", metavar="ADDR", help="sync only this mailbox")
    p.add_argument("--full", action="store_true", help="full resync (re-list everything, reconcile)")
    p = command("check", cmd_check, "verify the delegation key, both scopes and every mailbox")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = command("status", cmd_status, "capture and digest health, for StartOS properties and checks")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    command("settings", cmd_settings, "list every setting, its current value (secrets hidden) and help")
    command("demo", cmd_demo, "run the appliance in demo mode against the bundled Gmail simulator")

    users = sub.add_parser("users", help="team members and admins").add_subparsers(
        dest="users_command", required=True, metavar="USERS_COMMAND"
    )
    p = command("add", cmd_users_add, "create a team member and their mailbox", users)
    p.add_argument("email")
    p.add_argument("--name", default="")
    p.add_argument("--admin", action="store_true", help="may use the dashboard; receives the digest")
    p.add_argument("--password-stdin", action="store_true", help="read the dashboard password from stdin")
    p = command("set-password", cmd_users_set_password, "set a user's dashboard password (from stdin)", users)
    p.add_argument("email")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin (default)")
    p.add_argument("--make-admin", action="store_true", help="also make the user an active admin")
    p = command("token", cmd_users_token, "issue an API token; printed as the last line", users)
    p.add_argument("email")
    p.add_argument("--label", default="cli")
    command("list", cmd_users_list, "list team members", users)
    p = command(
        "admin-domains", cmd_users_admin_domains, "require admins to be at the fund's own domains (on/off)", users
    )
    p.add_argument("state", nargs="?", choices=("on", "off"), help="omit to show the current state")

    p = command("capture-scope", cmd_capture_scope, "show or set what capture keeps in full (investors or all)")
    p.add_argument("scope", nargs="?", choices=("investors", "all"), help="omit to show the current scope")
    p.add_argument("--confirm", action="store_true", help="go ahead when switching to investors deletes content")

    mailboxes = sub.add_parser("mailboxes", help="pause, resume or remove a team mailbox").add_subparsers(
        dest="mailboxes_command", required=True, metavar="MAILBOXES_COMMAND"
    )
    for name, help_text in (
        ("pause", "stop capturing a mailbox (no Gmail calls) until it is resumed"),
        ("resume", "capture a paused or removed mailbox again"),
        ("remove", "delete a mailbox's captured sightings (asks for its address again on stdin)"),
    ):
        p = command(name, cmd_mailboxes, help_text, mailboxes)
        p.add_argument("address")

    digest = sub.add_parser("digest", help="the daily internal digest").add_subparsers(
        dest="digest_command", required=True, metavar="DIGEST_COMMAND"
    )
    p = command("preview", cmd_digest_preview, "print the digest as it would be sent now (nothing is sent)", digest)
    p.add_argument(
        "--window",
        choices=("next", "24h"),
        default="next",
        help="next: what the next scheduled digest would cover (default); 24h: as send-now",
    )
    p.add_argument("--html", action="store_true", help="print the HTML part instead of the plain text")
    p.add_argument("--no-llm", action="store_true", help="use the count-only paragraphs (no LLM calls)")
    command(
        "send-now",
        cmd_digest_send_now,
        "send the last-24 h digest to every active admin now (the daily schedule is not affected)",
        digest,
    )

    imports = sub.add_parser("import", help="bulk imports").add_subparsers(
        dest="import_command", required=True, metavar="WHAT"
    )
    p = command(
        "investors",
        cmd_import_investors,
        "import investors,domains,graveyard,contact_name,contact_email CSV (all or nothing)",
        imports,
    )
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--dry-run", action="store_true", help="validate and report without writing")
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
    except SettingsError as exc:  # e.g. a database URL the appliance cannot use
        print(f"error: bad setting: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _runtime(args: argparse.Namespace, *, demo: bool = False):
    from appsrc.runtime import build_runtime

    return build_runtime(args.settings, allow_demo=demo)


def cmd_migrate(args: argparse.Namespace) -> int:
    from appsrc.store.db import open_database
    from appsrc.store.migrations import migrate

    db = open_database(args.settings.database_url)
    applied = migrate(db)
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from appsrc.secret_files import describe_smtp
    from appsrc.settings import SPECS

    shown = args.settings.redacted()
    for spec in SPECS:
        print(f"{spec.env}={shown[spec.env]}\n    {spec.help}")
    for name, value, help_text in describe_smtp(args.settings.secrets_dir):
        print(f"{name}={value}\n    {help_text}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from appsrc.web.server import serve

    runtime = _runtime(args, demo=True)
    try:
        return serve(runtime)
    finally:
        runtime.close()


def cmd_demo(args: argparse.Namespace) -> int:
    args.settings = args.settings.replace(demo="on")
    return cmd_serve(args)


def cmd_worker(args: argparse.Namespace) -> int:
    from appsrc.store.leases import AnotherWorkerRunning
    from appsrc.worker import Worker

    runtime = _runtime(args, demo=True)
    try:
        worker = Worker(runtime)
        try:
            worker.register()
        except AnotherWorkerRunning as exc:
            raise CommandError(str(exc)) from None
        worker.run_until_signalled()
    finally:
        runtime.close()
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from appsrc.worker import leased_sync_pass

    runtime = _runtime(args, demo=True)
    try:
        reports, busy = leased_sync_pass(runtime, mailbox=args.mailbox, full=args.full)
    finally:
        runtime.close()
    for address, holder in busy:
        print(f"{address}: left to {holder}, which is syncing it now")
    if not reports and not busy:
        raise CommandError(
            f"no mailbox {args.mailbox}" if args.mailbox else "no mailboxes to sync: add team members with `users add`"
        )
    for r in reports:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(r.skipped_reasons.items()))
        print(
            f"{r.address}: {r.mode}, listed {r.listed}, stored {r.stored}, skipped {r.skipped}"
            + (f" ({reasons})" if reasons else "")
            + f", failed {r.failed}, new proposals {r.proposals}"
            + (f" — {r.error_kind} error: {r.error}" + (f"\n    fix: {r.fix}" if r.fix else "") if r.error else "")
        )
    failed = [r.address for r in reports if not r.ok]
    if failed:
        raise CommandError(f"{len(failed)} mailbox(es) failed: {', '.join(failed)}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from appsrc.capture.check import check_delegation

    runtime = _runtime(args, demo=False)
    try:
        result = check_delegation(runtime.credentials, runtime.remotes)
    finally:
        runtime.close()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        key = result["key"]
        print(
            f"key: {'ok' if key['ok'] else 'FAILED'}" + (f" (client ID {key['client_id']})" if key["client_id"] else "")
        )
        if key["error"]:
            print(f"    {key['error']}\n    fix: {key['fix']}")
        for mailbox in result["mailboxes"]:
            print(f"{mailbox['address']}: {'ok' if mailbox['ok'] else 'FAILED'}")
            if not mailbox["ok"]:
                print(f"    {mailbox['error']}" + (f"\n    fix: {mailbox['fix']}" if mailbox["fix"] else ""))
        if key["ok"] and not result["mailboxes"]:
            print("no mailboxes yet: add team members with `users add`")
    return 0 if result["ok"] else 1


def cmd_status(args: argparse.Namespace) -> int:
    from appsrc.runtime import is_demo
    from appsrc.store.db import open_database
    from appsrc.store.queries import appliance_status

    # Health checks call this every few seconds: only the database, no runtime.
    db = open_database(args.settings.database_url)
    try:
        status = appliance_status(demo=is_demo(args.settings))
    finally:
        db.close()
    if args.json:
        print(json.dumps(status, default=str))
    else:
        print(f"active admins: {status['admins_active']}")
        print(f"mailboxes: {status['mailboxes_syncing']} syncing of {status['mailboxes_total']}")
        for problem in status["mailboxes_in_error"]:
            print(f"  {problem['address']}: {problem['kind']} error: {problem['error']}")
        digest = status["last_digest"]
        print(
            "last digest: "
            + (f"{digest['status']} ({digest['kind']}) at {digest['finished_at']}" if digest else "never")
        )
    return 0


def cmd_digest_preview(args: argparse.Namespace) -> int:
    from appsrc.digest.service import build_digest_service

    runtime = _runtime(args)
    try:
        digest = build_digest_service(runtime).preview(window=args.window, use_llm=not args.no_llm)
    finally:
        runtime.close()
    if args.html:
        print(digest["html"])
    else:
        print(f"Subject: {digest['subject']}\nTo: {', '.join(digest['recipients']) or '(no active admin)'}\n")
        print(digest["body"])
    return 0


def cmd_digest_send_now(args: argparse.Namespace) -> int:
    from appsrc.digest.service import build_digest_service
    from appsrc.mail.mailer import RecipientNotAllowed

    runtime = _runtime(args)
    try:
        run = build_digest_service(runtime).send_now()
    except RecipientNotAllowed as exc:
        raise CommandError(str(exc)) from None
    finally:
        runtime.close()
    if run.status != "sent":
        raise CommandError(f"digest run {run.id} failed: {run.error}")
    print(
        f"digest run {run.id} sent via {run.transport} to {', '.join(run.recipients)}"
        + (f" (note: {run.error})" if run.error else "")
    )
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise CommandError("the passwords differ")
        return password
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CommandError("no password on stdin")
    return password


def cmd_users_add(args: argparse.Namespace) -> int:
    from appsrc.crm.users import UserExists, add_user
    from appsrc.crm.validation import ValidationError

    password = _read_password(args) if args.password_stdin else None
    runtime = _runtime(args)
    try:
        user = add_user(
            args.email,
            args.name,
            runtime.clock.now(),
            is_admin=args.admin,
            password=password,
            actor_label="cli",
            own_domains=runtime.own_domains(),
        )
    except UserExists as exc:
        raise CommandError(str(exc), status=3) from None
    except ValidationError as exc:
        raise CommandError(str(exc)) from None
    finally:
        runtime.close()
    print(f"added {'admin' if user.is_admin else 'team member'} {user.email} (mailbox {user.email})")
    return 0


def cmd_users_set_password(args: argparse.Namespace) -> int:
    from appsrc.crm.users import UnknownUser, set_password
    from appsrc.crm.validation import ValidationError

    password = _read_password(args)
    runtime = _runtime(args)
    try:
        user = set_password(
            args.email,
            password,
            runtime.clock.now(),
            make_admin=args.make_admin,
            actor_label="cli",
            own_domains=runtime.own_domains(),
        )
    except UnknownUser as exc:
        raise CommandError(str(exc), status=4) from None
    except ValidationError as exc:
        raise CommandError(str(exc)) from None
    finally:
        runtime.close()
    print(f"password set for {user.email}" + (" (active admin)" if args.make_admin else ""))
    return 0


def cmd_users_token(args: argparse.Namespace) -> int:
    from appsrc.crm.users import issue_token
    from appsrc.crm.validation import ValidationError

    runtime = _runtime(args)
    try:
        token = issue_token(args.email, runtime.clock.now(), label=args.label, actor_label="cli")
    except ValidationError as exc:
        raise CommandError(str(exc)) from None
    finally:
        runtime.close()
    print("API token (shown once; send it as `Authorization: Bearer <token>`):")
    print(token)
    return 0


def cmd_users_admin_domains(args: argparse.Namespace) -> int:
    from appsrc.crm.users import admin_domain_rule_on, set_admin_domain_rule

    runtime = _runtime(args)
    try:
        if args.state:
            set_admin_domain_rule(args.state == "on", runtime.clock.now(), actor_label="cli")
        domains = ", ".join(sorted(runtime.own_domains())) or "not known yet"
        state = "on" if admin_domain_rule_on() else "off"
    finally:
        runtime.close()
    print(f"admins must be at the fund's own domains: {state} (the fund's domains: {domains})")
    return 0


def cmd_capture_scope(args: argparse.Namespace) -> int:
    from appsrc.crm import capture_policy
    from appsrc.crm.validation import ValidationError

    runtime = _runtime(args)
    try:
        if args.scope:
            try:
                change = capture_policy.set_scope(
                    args.scope, runtime.clock.now(), confirm=args.confirm, actor_label="cli"
                )
            except capture_policy.ConfirmationNeeded as exc:
                raise CommandError(f"{exc} (--confirm)") from None
            except ValidationError as exc:
                raise CommandError(str(exc)) from None
            if change.emails_reduced:
                print(f"reduced {change.emails_reduced:,} emails to bare sightings")
            if change.refetch_queued:
                print(f"queued {change.refetch_queued:,} bare sightings for the worker to fetch in full")
        policy = capture_policy.policy()
    finally:
        runtime.close()
    print(f"capture scope: {policy['scope']}\n    {policy['scopes'][policy['scope']]}")
    return 0


def cmd_mailboxes(args: argparse.Namespace) -> int:
    from appsrc.crm import mailboxes
    from appsrc.crm.validation import ValidationError
    from appsrc.store.models import EmailAccount

    runtime = _runtime(args)
    try:
        account = EmailAccount.get_or_none(EmailAccount.address == args.address.strip().lower())
        if account is None:
            raise CommandError(f"no mailbox {args.address}")
        now = runtime.clock.now()
        try:
            if args.mailboxes_command == "remove":
                print(f"type {account.address} to delete its captured sightings: ", end="", file=sys.stderr)
                counts = mailboxes.remove(account.id, sys.stdin.readline(), now, actor_label="cli")
                print(", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in counts.items()))
            else:
                getattr(mailboxes, args.mailboxes_command)(account.id, now, actor_label="cli")
        except ValidationError as exc:
            raise CommandError(str(exc)) from None
    finally:
        runtime.close()
    print(f"{account.address}: {args.mailboxes_command}d")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from appsrc.store.models import User

    runtime = _runtime(args)
    try:
        for user in User.select().order_by(User.email):
            flags = ", ".join(f for f, on in (("admin", user.is_admin), ("inactive", not user.is_active)) if on)
            print(f"{user.email}\t{user.name}" + (f"\t({flags})" if flags else ""))
    finally:
        runtime.close()
    return 0


def cmd_import_investors(args: argparse.Namespace) -> int:
    from appsrc.crm.investors import import_investors_csv
    from appsrc.crm.validation import ValidationError

    try:
        with open(args.file, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {args.file}: {exc}") from None
    runtime = _runtime(args)
    try:
        result = import_investors_csv(
            text, runtime.clock.now(), directory=runtime.directory, actor_label="cli", dry_run=args.dry_run
        )
        print(
            f"{'would import' if args.dry_run else 'imported'} {result.rows} row(s): "
            f"investors {result.investors_created} new, {result.investors_updated} updated; "
            f"contacts {result.contacts_created} new, {result.contacts_updated} updated"
        )
        if not args.dry_run and (result.changed_domains or result.changed_addresses):
            stats = result.rematched
            print(f"rematched {stats['emails']} captured email(s): {stats['proposals_added']} new proposal(s)")
    except ValidationError as exc:
        if hasattr(exc, "errors"):
            for line, message in exc.errors:
                print(f"{args.file}:{line}: {message}", file=sys.stderr)
            raise CommandError(f"{len(exc.errors)} problem(s) in {args.file}; nothing was imported") from None
        raise CommandError(str(exc)) from None
    finally:
        runtime.close()
    return 0
