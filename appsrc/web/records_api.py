"""The record-care API: merge, move, delete and restore investors and contacts (admin-only).

Thin views over `crm.record_care`. Bad input answers 400 naming the field and changes nothing;
an unknown id 404; a merged record's old id answers 301 with `{"merged_into": id}` and the
survivor's address, so old links and scripts keep working.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, url_for

from appsrc.app_services import runtime
from appsrc.crm import record_care
from appsrc.crm.validation import ValidationError
from appsrc.store import queries
from appsrc.web.auth import admin_required
from appsrc.web.bodies import strict_body

blueprint = Blueprint("records_api", __name__, url_prefix="/api")


@blueprint.errorhandler(record_care.RecordNotFound)
def _not_found(exc):
    return jsonify({"error": str(exc), "field": exc.field}), 404


@blueprint.errorhandler(ValidationError)
def _invalid(exc: ValidationError):
    return jsonify({"error": str(exc), "field": exc.field}), 400


def _merged(endpoint: str, survivor: int, **ids):
    response = jsonify({"merged_into": survivor})
    response.status_code = 301
    response.headers["Location"] = url_for(endpoint, **ids)
    return response


def _record(detail, merged_into, record_id: int, noun: str):
    """The record, a pointer to the one it was merged into (301), or 404."""
    found = detail(record_id)
    if found is not None:
        return jsonify(found)
    survivor = merged_into(record_id)
    if survivor is not None:
        return _merged(f"records_api.{noun}", survivor, **{f"{noun}_id": survivor})
    return jsonify({"error": f"no such {noun}", "field": f"{noun}_id"}), 404


@blueprint.get("/investors/<int:investor_id>")
@admin_required
def investor(investor_id: int):
    return _record(queries.investor_detail, record_care.investor_merged_into, investor_id, "investor")


@blueprint.delete("/investors/<int:investor_id>")
@admin_required
def delete_investor(investor_id: int):
    strict_body()
    return jsonify(record_care.delete_investor(investor_id, runtime().clock.now(), actor=g.user))


@blueprint.post("/investors/<int:investor_id>/restore")
@admin_required
def restore_investor(investor_id: int):
    strict_body()
    rt = runtime()
    return jsonify(record_care.restore_investor(investor_id, rt.clock.now(), directory=rt.directory, actor=g.user))


def _merge(merge, survivor_id: int):
    """`{"from": [ids], "dry_run": bool}`: a dry run previews what moves and the conflicts."""
    body = strict_body("from", "dry_run")
    rt = runtime()
    dry_run = body.get("dry_run", False)
    return jsonify(
        merge(survivor_id, body.get("from"), rt.clock.now(), directory=rt.directory, dry_run=dry_run, actor=g.user)
    )


@blueprint.post("/investors/<int:investor_id>/merge")
@admin_required
def merge_investors(investor_id: int):
    return _merge(record_care.merge_investors, investor_id)


@blueprint.get("/contacts/<int:contact_id>")
@admin_required
def contact(contact_id: int):
    return _record(queries.contact_detail, record_care.contact_merged_into, contact_id, "contact")


@blueprint.delete("/contacts/<int:contact_id>")
@admin_required
def delete_contact(contact_id: int):
    strict_body()
    rt = runtime()
    return jsonify(record_care.delete_contact(contact_id, rt.clock.now(), directory=rt.directory, actor=g.user))


@blueprint.post("/contacts/<int:contact_id>/restore")
@admin_required
def restore_contact(contact_id: int):
    strict_body()
    rt = runtime()
    return jsonify(record_care.restore_contact(contact_id, rt.clock.now(), directory=rt.directory, actor=g.user))


@blueprint.post("/contacts/<int:contact_id>/merge")
@admin_required
def merge_contacts(contact_id: int):
    return _merge(record_care.merge_contacts, contact_id)


@blueprint.post("/contacts/<int:contact_id>/move")
@admin_required
def move_contact(contact_id: int):
    """`{"investor_id": id, "since": ISO date}`: mail from `since` on goes to the new investor."""
    body = strict_body("investor_id", "since")
    if "investor_id" not in body:
        raise ValidationError("investor_id is required", field="investor_id")
    rt = runtime()
    return jsonify(
        record_care.move_contact(
            contact_id, body["investor_id"], body.get("since"), rt.clock.now(), directory=rt.directory, actor=g.user
        )
    )


@blueprint.get("/deleted")
@admin_required
def deleted():
    """Investors and contacts that can still be restored, and until when."""
    return jsonify(record_care.deleted_records(runtime().clock.now()))
