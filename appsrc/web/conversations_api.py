"""Conversations and documents of investors and contacts over HTTP (admin only); thin views on
`store.queries.conversations`.

    GET /api/investors/<id>/conversations   {"items", "next_cursor"}: threads touching the
    GET /api/contacts/<id>/conversations    investor's linked mail / the contact's addresses,
                                            newest last message first
    GET /api/investors/<id>/documents       {"items", "next_cursor"}: attachment names, types and
                                            sizes of the investor's mail, newest first

Each takes `limit` (1..200, default 25) and `cursor` (a `next_cursor` it returned). A bad
`limit` or `cursor` answers 400 naming it; an unknown or deleted investor or contact 404.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from appsrc.store.queries.common import QueryError
from appsrc.store.queries.conversations import (
    DEFAULT_LIMIT,
    contact_conversations,
    investor_conversations,
    investor_documents,
)
from appsrc.web.auth import admin_required

blueprint = Blueprint("conversations_api", __name__, url_prefix="/api")


@blueprint.errorhandler(QueryError)
def _bad_argument(exc: QueryError):
    return jsonify({"error": str(exc), "field": exc.field}), 400


def _page_args() -> dict:
    raw = request.args.get("limit", "").strip()
    try:
        limit = int(raw) if raw else DEFAULT_LIMIT
    except ValueError:
        raise QueryError("limit must be an integer", "limit") from None
    return {"limit": limit, "cursor": request.args.get("cursor") or None}


def _page_or_404(page: dict | None, what: str):
    if page is None:
        return jsonify({"error": f"no such {what}", "field": f"{what}_id"}), 404
    return jsonify(page)


@blueprint.get("/investors/<int:investor_id>/conversations")
@admin_required
def investor_conversation_list(investor_id: int):
    return _page_or_404(investor_conversations(investor_id, **_page_args()), "investor")


@blueprint.get("/contacts/<int:contact_id>/conversations")
@admin_required
def contact_conversation_list(contact_id: int):
    return _page_or_404(contact_conversations(contact_id, **_page_args()), "contact")


@blueprint.get("/investors/<int:investor_id>/documents")
@admin_required
def investor_document_list(investor_id: int):
    return _page_or_404(investor_documents(investor_id, **_page_args()), "investor")
