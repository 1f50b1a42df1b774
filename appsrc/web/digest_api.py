"""Admin JSON API for the digest: policy, preview, send-now, the test email and the run history.

    GET   /api/admin/digest/policy        {"enabled", "send_hour", "source", "timezone"}
    PATCH /api/admin/digest/policy        {"enabled"?: bool, "send_hour"?: 0..23} -> the new policy;
                                          400 {"error", "field"} and nothing changed; audited
    GET   /api/admin/digest/preview       ?window=next|24h &format=json|html|text; never runs the LLM
    POST  /api/admin/digest/preview       the same, with the local LLM's paragraphs (?llm=0 to skip):
                                          a POST carries the CSRF token, so a link on another
                                          site cannot make the box spend minutes of LLM time
    POST  /api/admin/digest/send-now      202 {"run": {...}}: the last-24 h digest to every active
                                          admin, as a job; the daily cursor is never touched; 409 if
                                          one is already running
    POST  /api/admin/digest/test-email    {"recipients"?: [admin addresses]} (default: yourself);
                                          anyone not an active admin -> 400, nothing sent (not an
                                          open relay); 202 {"run": {...}}
    GET   /api/admin/digest/runs          ?limit= -> {"items": [...]} newest first
    GET   /api/admin/digest/runs/<id>     one attempt (poll a job's status here)
    GET   /api/admin/digest/status        policy, whether a digest is due now and why, the cursor

A send's failure is never echoed in the response that starts it: it is logged and stored on the
run, sanitized and in our own words (an SMTP or OAuth error can carry a credential).
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from appsrc.app_services import digest_jobs, digest_service
from appsrc.crm import audit
from appsrc.digest.jobs import JobBusy
from appsrc.digest.policy import PolicyError, update_digest_policy
from appsrc.digest.service import DigestService
from appsrc.mail.mailer import RecipientNotAllowed, active_admin_addresses
from appsrc.store.models import DigestRun, User
from appsrc.web.auth import admin_required

blueprint = Blueprint("digest_api", __name__, url_prefix="/api/admin/digest")
MAX_RUNS = 200


def current_actor() -> User | None:
    user = g.get("user")
    return user if isinstance(user, User) else None


def bad_request(message: str, field: str):
    return jsonify({"error": message, "field": field}), 400


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def run_json(run: DigestRun) -> dict:
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "transport": run.transport,
        "error": run.error,
        "local_date": run.local_date,
        "window_start": _iso(run.window_start),
        "window_end": _iso(run.window_end),
        "recipients": run.recipients,
        "subject": run.subject,
        "requested_by": run.requested_by.email if run.requested_by_id else None,
        "created_at": _iso(run.created_at),
        "finished_at": _iso(run.finished_at),
    }


def _policy_json(service: DigestService) -> dict:
    return {**service.policy().as_dict(), "timezone": service.tz_name}


@blueprint.get("/policy")
@admin_required
def get_policy():
    return jsonify(_policy_json(digest_service()))


@blueprint.patch("/policy")
@admin_required
def patch_policy():
    service = digest_service()
    body = request.get_json(silent=True)
    if body is None:
        return bad_request('expected a JSON object such as {"enabled": true, "send_hour": 18}', "body")
    try:
        update_digest_policy(
            body,
            service.clock.now(),
            actor=current_actor(),
            env_enabled=service.env_enabled,
            env_send_hour=service.env_send_hour,
        )
    except PolicyError as exc:
        return bad_request(str(exc), exc.field)
    return jsonify(_policy_json(service))


@blueprint.route("/preview", methods=["GET", "POST"])
@admin_required
def preview():
    window = request.args.get("window", "next")
    if window not in ("next", "24h"):
        return bad_request("window must be next or 24h", "window")
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "html", "text"):
        return bad_request("format must be json, html or text", "format")
    asked = request.args.get("llm", "").strip().lower()
    if request.method == "GET" and asked in ("1", "true", "yes"):
        return bad_request("running the local LLM for a preview needs a POST", "llm")
    use_llm = request.method == "POST" and asked not in ("0", "false", "no")
    digest = digest_service().preview(window=window, use_llm=use_llm)
    if fmt == "html":
        return Response(digest["html"], mimetype="text/html")
    if fmt == "text":
        return Response(digest["body"], mimetype="text/plain")
    return jsonify(
        {
            **{k: v for k, v in digest.items() if k not in ("window_start", "window_end")},
            "window_start": _iso(digest["window_start"]),
            "window_end": _iso(digest["window_end"]),
        }
    )


def _start(kind: str, recipients=None):
    service = digest_service()
    actor = current_actor()
    try:
        run = digest_jobs().start(kind, requested_by=actor, recipients=recipients)
    except JobBusy as exc:
        return jsonify({"error": f"a {kind} is already running", "run": run_json(exc.run)}), 409
    except RecipientNotAllowed as exc:
        return jsonify({"error": str(exc), "field": "recipients"}), 400 if recipients is not None else 409
    audit.record(
        f"digest.{kind.replace('-', '_')}",
        service.clock.now(),
        actor=actor,
        target_type="digest_run",
        target_id=run.id,
        detail={"recipients": list(run.recipients)},
    )
    return jsonify({"run": run_json(run)}), 202


@blueprint.post("/send-now")
@admin_required
def send_now():
    return _start("send-now")


@blueprint.post("/test-email")
@admin_required
def test_email():
    body = request.get_json(silent=True) if request.data else {}
    if not isinstance(body, dict):
        return bad_request('expected a JSON object such as {"recipients": ["you@fund.example"]}', "body")
    unknown = sorted(set(body) - {"recipients"})
    if unknown:
        return bad_request(f"unknown field {unknown[0]!r}", unknown[0])
    recipients = body.get("recipients")
    if recipients is None:
        actor = current_actor()
        recipients = [actor.email] if actor is not None else active_admin_addresses()
    if (
        not isinstance(recipients, list)
        or not recipients
        or len(recipients) > 50
        or not all(isinstance(r, str) and r.strip() for r in recipients)
    ):
        return bad_request("recipients must be a non-empty list of addresses", "recipients")
    allowed = set(active_admin_addresses())
    if any(r.strip().lower() not in allowed for r in recipients):
        return bad_request("recipients must be active admins: the appliance mails nobody else", "recipients")
    return _start("test", recipients)


@blueprint.get("/runs")
@admin_required
def runs():
    try:
        limit = max(1, min(int(request.args.get("limit", "50")), MAX_RUNS))
    except ValueError:
        return bad_request("limit must be an integer", "limit")
    query = DigestRun.select().order_by(DigestRun.id.desc()).limit(limit)
    return jsonify({"items": [run_json(r) for r in query]})


@blueprint.get("/runs/<int:run_id>")
@admin_required
def run(run_id: int):
    found = DigestRun.get_or_none(DigestRun.id == run_id)
    if found is None:
        return jsonify({"error": "no such run"}), 404
    return jsonify(run_json(found))


@blueprint.get("/status")
@admin_required
def status():
    return jsonify(digest_service().status())
