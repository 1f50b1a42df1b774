"""The JSON API: thin views over the named queries in `store.queries` and the CRM actions.

Admin-only (`admin_required`, checked server-side). Bad input answers 400 `{"error", "field"}`,
an unknown id 404, a decision on an already-decided proposal 409; a write either happens whole
or not at all. Cookie-session writes need the CSRF token (`X-CSRFToken`); Bearer-token scripts
do not (see `web.auth`).
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request, stream_with_context

from appsrc.app_services import runtime
from appsrc.crm import activities as crm_activities
from appsrc.crm import capture_policy
from appsrc.crm import mailboxes as crm_mailboxes
from appsrc.crm import proposals as crm_proposals
from appsrc.crm.mailboxes import MailboxNotFound, request_sync
from appsrc.crm.validation import ValidationError, parse_id, parse_optional_id
from appsrc.store import queries
from appsrc.store.queries import export
from appsrc.web.auth import admin_required

blueprint = Blueprint("api", __name__, url_prefix="/api")


def bad_request(message: str, field: str | None):
    return jsonify({"error": message, "field": field}), 400


def _int_arg(name: str, default: int | None = None) -> int | None:
    """A count such as `limit` (the query clamps it to its range)."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise queries.QueryError(f"{name} must be an integer", name) from None


def _id_arg(name: str) -> int | None:
    """An optional row id in the query string: 400 naming it unless it is one (1..2^63-1)."""
    return parse_optional_id(request.args.get(name), field=name)


def _json_body() -> dict:
    if not request.data:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    return body


@blueprint.errorhandler(queries.QueryError)
def _query_error(exc: queries.QueryError):
    return bad_request(str(exc), exc.field)


@blueprint.errorhandler(crm_proposals.ProposalNotFound)
@blueprint.errorhandler(crm_activities.ActivityNotFound)
@blueprint.errorhandler(MailboxNotFound)
def _not_found(exc):
    return jsonify({"error": str(exc), "field": exc.field}), 404


@blueprint.errorhandler(crm_proposals.ProposalConflict)
def _conflict(exc):
    return jsonify({"error": str(exc), "field": exc.field}), 409


@blueprint.errorhandler(capture_policy.ConfirmationNeeded)
def _needs_confirmation(exc: capture_policy.ConfirmationNeeded):
    return jsonify({"error": str(exc), "field": exc.field, **exc.counts}), 400


@blueprint.errorhandler(ValidationError)
def _invalid(exc: ValidationError):
    return bad_request(str(exc), exc.field)


def _bool_arg(name: str) -> bool | None:
    """`true` or `false` (any case); absent or empty means "either"."""
    raw = request.args.get(name, "").strip().lower()
    if not raw:
        return None
    if raw not in ("true", "false"):
        raise queries.QueryError(f"{name} must be true or false", name)
    return raw == "true"


def _activity_filters() -> queries.FilterArgs:
    """The activity search's filters from the query string, as `queries.email_activity` takes
    them; days are the fund's (its time zone setting)."""
    return {
        "investor_id": _id_arg("investor_id"),
        "account_id": _id_arg("account_id"),
        "contact_id": _id_arg("contact_id"),
        "direction": request.args.get("direction") or None,
        "q": request.args.get("q") or None,
        "since": request.args.get("since") or None,
        "until": request.args.get("until") or None,
        "has_attachment": _bool_arg("has_attachment"),
        "tz_name": runtime().settings.timezone,
    }


@blueprint.get("/email/activity")
@admin_required
def email_activity():
    """Filters: investor_id, account_id, contact_id, direction, q (words; three letters or more
    match a word's start), since and until (YYYY-MM-DD, included), has_attachment (true|false)."""
    return jsonify(
        queries.email_activity(
            **_activity_filters(), limit=_int_arg("limit", 50), cursor=request.args.get("cursor") or None
        )
    )


def _csv_download(chunks, filename: str) -> Response:
    """Stream CSV text as it is read: an export of any size holds one page in memory."""
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@blueprint.get("/email/activity.csv")
@admin_required
def email_activity_csv():
    """`GET /api/email/activity` with the same filters, every page, as CSV for Excel."""
    chunks = export.activity_csv(**_activity_filters())
    return _csv_download(chunks, "activity.csv")


@blueprint.get("/investors/<int:investor_id>/activities.csv")
@admin_required
def investor_activities_csv(investor_id: int):
    """An investor's approved activity timeline as CSV."""
    if queries.investor_detail(investor_id) is None:
        return jsonify({"error": "no such investor", "field": "investor_id"}), 404
    return _csv_download(export.timeline_csv(investor_id=investor_id), f"investor-{investor_id}-activities.csv")


@blueprint.get("/email/<int:email_id>")
@admin_required
def email_detail(email_id: int):
    detail = queries.email_detail(email_id)
    if detail is None:
        return jsonify({"error": "no such email", "field": "email_id"}), 404
    return jsonify(detail)


@blueprint.get("/investors")
@admin_required
def investors():
    include = request.args.get("include_graveyard", "0").strip().lower() in {"1", "true", "yes"}
    return jsonify({"items": queries.list_investors(include_graveyard=include)})


@blueprint.get("/mailboxes")
@admin_required
def mailboxes():
    return jsonify({"items": queries.list_mailboxes()})


@blueprint.post("/mailboxes/<int:account_id>/sync")
@admin_required
def mailbox_sync(account_id: int):
    account = request_sync(account_id, runtime().clock.now(), actor=g.user)
    return jsonify({"id": account.id, "address": account.address, "sync_requested": True}), 202


def _mailbox(account_id: int):
    return next(m for m in queries.list_mailboxes() if m["id"] == account_id)


@blueprint.post("/mailboxes/<int:account_id>/pause")
@admin_required
def mailbox_pause(account_id: int):
    _json_body()
    crm_mailboxes.pause(account_id, runtime().clock.now(), actor=g.user)
    return jsonify(_mailbox(account_id))


@blueprint.post("/mailboxes/<int:account_id>/resume")
@admin_required
def mailbox_resume(account_id: int):
    _json_body()
    crm_mailboxes.resume(account_id, runtime().clock.now(), actor=g.user)
    return jsonify(_mailbox(account_id))


@blueprint.post("/mailboxes/<int:account_id>/remove")
@admin_required
def mailbox_remove(account_id: int):
    """`{"confirm": "<the mailbox's address>"}`: deletes its sightings (see crm.mailboxes)."""
    counts = crm_mailboxes.remove(account_id, _json_body().get("confirm"), runtime().clock.now(), actor=g.user)
    return jsonify({**_mailbox(account_id), "removed": counts})


@blueprint.get("/admin/capture/policy")
@admin_required
def capture_policy_get():
    return jsonify(capture_policy.policy())


@blueprint.patch("/admin/capture/policy")
@admin_required
def capture_policy_set():
    """`{"scope": "investors" | "all", "confirm": bool}`; reducing content needs the confirm."""
    body = _json_body()
    if "scope" not in body:
        raise ValidationError("scope is required", field="scope")
    unknown = set(body) - {"scope", "confirm"}
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0]}", field=sorted(unknown)[0])
    change = capture_policy.set_scope(
        body["scope"], runtime().clock.now(), confirm=body.get("confirm", False), actor=g.user
    )
    return jsonify({**capture_policy.policy(), **change.as_dict()})


@blueprint.get("/proposals")
@admin_required
def proposals():
    return jsonify(
        queries.proposal_queue(
            status=request.args.get("status", "pending"),
            investor_id=_id_arg("investor_id"),
            limit=_int_arg("limit", 50),
            cursor=request.args.get("cursor") or None,
        )
    )


def _decide(action: str, ids, body: dict):
    now = runtime().clock.now()
    if action == "approve":
        names = body.get("contact_names") or {}
        if not isinstance(names, dict):
            raise ValidationError("contact_names must map proposal ids to names", field="contact_names")
        names = {parse_id(k, field="contact_names"): "" if v is None else str(v) for k, v in names.items()}
        decision = crm_proposals.approve(ids, g.user, now, directory=runtime().directory, contact_names=names)
    else:
        decision = crm_proposals.reject(ids, g.user, now)
    return jsonify(decision.as_dict())


@blueprint.post("/proposals/<int:proposal_id>/approve")
@admin_required
def approve_one(proposal_id: int):
    body = _json_body()
    if "contact_name" in body:
        body = {**body, "contact_names": {proposal_id: body.get("contact_name")}}
    return _decide("approve", [proposal_id], body)


@blueprint.post("/proposals/<int:proposal_id>/reject")
@admin_required
def reject_one(proposal_id: int):
    _json_body()
    return _decide("reject", [proposal_id], {})


@blueprint.post("/proposals/approve")
@admin_required
def approve_many():
    """Bulk: `{"ids": [...], "contact_names": {"<id>": "Name"}}`; all or nothing."""
    body = _json_body()
    if not isinstance(body.get("ids"), list):
        raise ValidationError("ids must be a list of proposal ids", field="ids")
    return _decide("approve", body["ids"], body)


@blueprint.post("/proposals/reject")
@admin_required
def reject_many():
    """Bulk: `{"ids": [...]}`; all or nothing."""
    body = _json_body()
    if not isinstance(body.get("ids"), list):
        raise ValidationError("ids must be a list of proposal ids", field="ids")
    return _decide("reject", body["ids"], body)


@blueprint.post("/proposals/<int:proposal_id>/undo")
@admin_required
def undo_decision(proposal_id: int):
    """Back to pending; `{"whole_action": true}` undoes every decision of the same bulk action."""
    body = _json_body()
    unknown = sorted(set(body) - {"whole_action"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]}", field=unknown[0])
    undone = crm_proposals.undo(
        proposal_id,
        g.user,
        runtime().clock.now(),
        directory=runtime().directory,
        whole_action=body.get("whole_action", False),
    )
    return jsonify(undone.as_dict())


@blueprint.patch("/activities/<int:activity_id>")
@admin_required
def edit_activity(activity_id: int):
    """`{"note", "occurred_at", "contact_id"}`, any of them; the email is never edited."""
    result = crm_activities.edit_activity(activity_id, _json_body(), runtime().clock.now(), actor=g.user)
    return jsonify(result)


@blueprint.route("/<path:_anything>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@admin_required
def no_such_endpoint(_anything):
    """Unknown API paths answer JSON 404 (otherwise the dashboard's catch-all page would)."""
    return jsonify({"error": "no such API endpoint", "field": None}), 404
