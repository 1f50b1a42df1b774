"""Reply drafts over HTTP (admin only). Nothing here sends: drafts.create is the only Gmail write.

    GET  /api/email/<id>/draft-reply?mailbox=     the plan: mailbox choices, exact To/Cc, subject
    POST /api/email/<id>/draft-reply/suggest      {"mailbox"?} -> {"body"} written by the local LLM
    POST /api/email/<id>/draft-reply              {"mailbox"?: ADDRESS, "body"?: TEXT (else the LLM
                                                  writes it)} -> 201 {"draft_id", "thread_id", "to",
                                                  "cc", "subject", "mailbox", "gmail_url", ...}
Bad input gets 400/404/409/422 naming the field, an unavailable LLM 503; nothing is created then.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from appsrc.app_services import runtime
from appsrc.crm.drafts import DraftError, create_reply_draft, plan_reply, suggest_body
from appsrc.llm import LlmConfig
from appsrc.web.auth import admin_required

blueprint = Blueprint("drafts_api", __name__, url_prefix="/api/email")


@blueprint.errorhandler(DraftError)
def _draft_error(exc: DraftError):
    answer = {"error": str(exc), "field": exc.field}
    if exc.fix:
        answer["fix"] = exc.fix
    return jsonify(answer), exc.status


def _json_body() -> dict:
    payload = request.get_json(silent=True) if request.data else {}
    if not isinstance(payload, dict):
        raise DraftError("expected a JSON object", field="body")
    unknown = set(payload) - {"mailbox", "body"}
    if unknown:
        raise DraftError(f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    for name in ("mailbox", "body"):
        if payload.get(name) is not None and not isinstance(payload[name], str):
            raise DraftError(f"{name} must be text", field=name)
    return payload


@blueprint.get("/<int:email_id>/draft-reply")
@admin_required
def reply_plan(email_id: int):
    settings = runtime().settings
    return jsonify(plan_reply(email_id, request.args.get("mailbox") or None, settings=settings).public())


@blueprint.post("/<int:email_id>/draft-reply/suggest")
@admin_required
def reply_suggestion(email_id: int):
    payload = _json_body()
    settings = runtime().settings
    plan = plan_reply(email_id, payload.get("mailbox") or None, settings=settings)
    return jsonify({"mailbox": plan.mailbox, "body": suggest_body(plan, LlmConfig.from_settings(settings))})


@blueprint.post("/<int:email_id>/draft-reply")
@admin_required
def draft_reply(email_id: int):
    payload = _json_body()
    rt = runtime()
    created = create_reply_draft(
        rt,
        email_id,
        mailbox=payload.get("mailbox") or None,
        body=payload.get("body"),
        actor=g.user,
        now=rt.clock.now(),
    )
    return jsonify(created), 201
