"""The approvals queue at backfill scale over HTTP (admin only): pending proposals grouped by
conversation or by investor, known contacts apart from new people, and a group decision that
covers exactly what its preview showed (see `crm.proposals.decide_groups`).

    GET  /api/approvals/proposals?people=all|known|new&investor_id=&limit=&cursor=
         the flat pending queue, newest email first: {"items", "next_cursor"} as /api/proposals
    GET  /api/approvals/groups?by=thread|investor&people=all|known|new&limit=&cursor=
         {"items": [{"key", "by", "people", "label", "investor": {"id", "name"}, "count",
         "latest_sent_at", "latest_from", "new_people", "known_contacts"}], "next_cursor"}:
         newest activity first; `count` is in the people filter, the two splits are the group's
    GET  /api/approvals/groups/<by>/<key>?people=
         the preview: {"by", "key", "people", "label", "count", "too_large", "member_ids",
         "version", "new_people", "known_contacts", "thread_id", "gmail_url", "items"}, items as
         in the flat queue (sender, subject, date, contact or new person); 404 for an empty group
    POST /api/approvals/groups/decide
         {"decision": "approve"|"reject", "groups": [{"by", "key", "people", "member_ids"}]}
         -> 200 {"decision_id", "decision", "approved", "rejected", "activities",
         "contacts_created", "groups": [{"by", "key", "people", "label", "member_ids"}]}: one
         action (one audit event, one `decision_id` that undo with whole_action takes back);
         409 {"error", "field": "groups", "groups": [previews as they are now]} when any group's
         members differ from `member_ids`, and nothing is decided
Thread keys (`thread_id` elsewhere) are the conversation key of `email.thread_key`; a key with a
slash is sent percent-encoded. Bad input answers 400 `{"error", "field"}` naming the field.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from appsrc.app_services import runtime
from appsrc.crm import proposals as crm_proposals
from appsrc.crm.validation import ValidationError, parse_optional_id
from appsrc.store.queries import QueryError
from appsrc.store.queries.approvals import approval_group, approval_groups, proposal_queue
from appsrc.web.auth import admin_required

blueprint = Blueprint("approvals_api", __name__, url_prefix="/api/approvals")


@blueprint.errorhandler(QueryError)
def _query_error(exc: QueryError):
    return jsonify({"error": str(exc), "field": exc.field}), 400


@blueprint.errorhandler(crm_proposals.GroupsChanged)
def _groups_changed(exc: crm_proposals.GroupsChanged):
    return jsonify({"error": str(exc), "field": exc.field, "groups": exc.previews}), 409


@blueprint.errorhandler(crm_proposals.ProposalConflict)
def _conflict(exc: crm_proposals.ProposalConflict):
    return jsonify({"error": str(exc), "field": exc.field}), 409


@blueprint.errorhandler(crm_proposals.ProposalNotFound)
def _not_found(exc: crm_proposals.ProposalNotFound):
    return jsonify({"error": str(exc), "field": exc.field}), 404


@blueprint.errorhandler(ValidationError)
def _invalid(exc: ValidationError):
    return jsonify({"error": str(exc), "field": exc.field}), 400


def _limit(default: int) -> int:
    raw = request.args.get("limit", "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise QueryError("limit must be an integer", "limit") from None


@blueprint.get("/proposals")
@admin_required
def flat_queue():
    return jsonify(
        proposal_queue(
            status="pending",
            investor_id=parse_optional_id(request.args.get("investor_id"), field="investor_id"),
            people=request.args.get("people") or "all",
            limit=_limit(50),
            cursor=request.args.get("cursor") or None,
        )
    )


@blueprint.get("/groups")
@admin_required
def groups():
    return jsonify(
        approval_groups(
            by=request.args.get("by") or "thread",
            people=request.args.get("people") or "all",
            limit=_limit(25),
            cursor=request.args.get("cursor") or None,
        )
    )


@blueprint.get("/groups/<by>/<path:key>")
@admin_required
def group(by: str, key: str):
    preview = approval_group(by, key, request.args.get("people") or "all")
    if not preview["member_ids"]:
        return jsonify({"error": "no pending proposals in this group", "field": "key"}), 404
    return jsonify(preview)


@blueprint.post("/groups/decide")
@admin_required
def decide():
    body = request.get_json(silent=True) if request.data else None
    if not isinstance(body, dict):
        raise ValidationError('expected a JSON object such as {"decision": "approve", "groups": [...]}', field="body")
    unknown = sorted(set(body) - {"decision", "groups"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    rt = runtime()
    decision, covered = crm_proposals.decide_groups(
        body.get("decision"), body.get("groups"), g.user, rt.clock.now(), directory=rt.directory
    )
    return jsonify(
        {"decision_id": decision.decision_id, "decision": body["decision"], **decision.as_dict(), "groups": covered}
    )
