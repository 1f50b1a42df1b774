"""Conversations waiting on the fund's reply, over HTTP (admin only). The rule is the read model
`store/queries/awaiting.py`; the marks and the policy are written by `crm.awaiting` (audited).

    GET    /api/awaiting-reply                 ?limit= -> {"items": [...], "total", "lp_count",
                                               "truncated", "policy"}, oldest wait first. An item:
                                               {"email_id" (the newest open message), "thread_id"
                                               (the conversation key), "investor": {"id", "name",
                                               "graveyard"} (the sender's investor, else the first
                                               by name), "investors": [...], "contact_email",
                                               "contact_name", "subject", "waiting_since" (the
                                               oldest open message), "last_inbound_at",
                                               "business_days", "open_messages", "mailbox",
                                               "gmail_url"}
    GET    /api/awaiting-reply/policy          {"business_days", "lookback_days", "timezone"}
    PATCH  /api/awaiting-reply/policy          {"business_days"?: 1..20, "lookback_days"?: 7..365}
    GET    /api/awaiting-reply/marks           handled conversations and snoozes in effect: {"items":
                                               [{"thread_id", "state", "email_id", "covers_through",
                                               "snoozed_until", "marked_at", "marked_by", "subject",
                                               "contact_email", "reopened"}]}; `reopened`: they wrote
                                               after what the mark covers
    POST   /api/awaiting-reply/<id>/handled    closes the case until a newer inbound message
    POST   /api/awaiting-reply/<id>/snooze     {"until": "YYYY-MM-DD"}: hidden until that day, or
                                               until a newer inbound message
    DELETE /api/awaiting-reply/<id>/state      undoes either

`<id>` is an email id: an open message of a listed case for `handled` and `snooze` (else 404),
any email of a marked conversation for `state`. Bad input answers 400 naming the field and
changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from appsrc.app_services import runtime
from appsrc.crm import awaiting as crm_awaiting
from appsrc.crm.validation import ValidationError
from appsrc.store.queries import awaiting
from appsrc.web.auth import admin_required
from appsrc.web.bodies import strict_body

blueprint = Blueprint("awaiting_api", __name__, url_prefix="/api/awaiting-reply")


@blueprint.errorhandler(ValidationError)
def _invalid(exc: ValidationError):
    return jsonify({"error": str(exc), "field": exc.field}), 400


@blueprint.errorhandler(crm_awaiting.NotWaiting)
def _not_waiting(exc: crm_awaiting.NotWaiting):
    return jsonify({"error": str(exc), "field": exc.field}), 404


def _limit() -> int:
    raw = request.args.get("limit", "").strip()
    if not raw:
        return awaiting.MAX_ITEMS
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= awaiting.MAX_ITEMS:
        raise ValidationError(f"limit must be a whole number from 1 to {awaiting.MAX_ITEMS}", field="limit")
    return int(raw)


def _policy() -> dict:
    return {**awaiting.awaiting_policy(), "timezone": runtime().settings.timezone}


@blueprint.get("")
@admin_required
def cases():
    rt = runtime()
    return jsonify(awaiting.awaiting_cases(rt.clock.now(), rt.settings.timezone, limit=_limit()))


@blueprint.get("/policy")
@admin_required
def policy_get():
    return jsonify(_policy())


@blueprint.patch("/policy")
@admin_required
def policy_set():
    crm_awaiting.update_policy(strict_body("business_days", "lookback_days"), runtime().clock.now(), actor=g.user)
    return jsonify(_policy())


@blueprint.get("/marks")
@admin_required
def marks():
    return jsonify({"items": awaiting.awaiting_marks(runtime().clock.now(), limit=_limit())})


@blueprint.post("/<int:email_id>/handled")
@admin_required
def handled(email_id: int):
    strict_body()
    rt = runtime()
    return jsonify(crm_awaiting.mark_handled(email_id, rt.clock.now(), rt.settings.timezone, actor=g.user))


@blueprint.post("/<int:email_id>/snooze")
@admin_required
def snooze(email_id: int):
    body = strict_body("until")
    if "until" not in body:
        raise ValidationError("until is required (YYYY-MM-DD)", field="until")
    rt = runtime()
    return jsonify(crm_awaiting.snooze(email_id, body["until"], rt.clock.now(), rt.settings.timezone, actor=g.user))


@blueprint.delete("/<int:email_id>/state")
@admin_required
def clear(email_id: int):
    strict_body()
    return jsonify(crm_awaiting.clear_mark(email_id, runtime().clock.now(), actor=g.user))
