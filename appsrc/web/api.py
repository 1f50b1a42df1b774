"""The JSON API: thin views over the named queries in `store.queries`."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from appsrc.store import queries
from appsrc.web.auth import admin_required

blueprint = Blueprint("api", __name__, url_prefix="/api")


def bad_request(message: str, field: str):
    return jsonify({"error": message, "field": field}), 400


def _int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise queries.QueryError(f"{name} must be an integer", name) from None


@blueprint.errorhandler(queries.QueryError)
def _query_error(exc: queries.QueryError):
    return bad_request(str(exc), exc.field)


@blueprint.get("/email/activity")
@admin_required
def email_activity():
    return jsonify(queries.email_activity(
        investor_id=_int_arg("investor_id"),
        account_id=_int_arg("account_id"),
        direction=request.args.get("direction") or None,
        q=request.args.get("q") or None,
        limit=_int_arg("limit", 50),
        cursor=request.args.get("cursor") or None,
    ))


@blueprint.get("/investors")
@admin_required
def investors():
    include = request.args.get("include_graveyard", "0").strip().lower() in {"1", "true", "yes"}
    return jsonify({"items": queries.list_investors(include_graveyard=include)})


@blueprint.get("/mailboxes")
@admin_required
def mailboxes():
    return jsonify({"items": queries.list_mailboxes()})


@blueprint.get("/proposals")
@admin_required
def proposals():
    return jsonify(queries.list_proposals(status=request.args.get("status", "pending"),
                                          limit=_int_arg("limit", 50), cursor=request.args.get("cursor") or None))
