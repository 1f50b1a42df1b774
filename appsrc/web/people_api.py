"""One person outside the fund over HTTP (admin only): what is stored about an address, a copy of
it, and its erasure on request (see `crm.people`).

    GET    /api/people/<address>          {"address", "counts", "emails", "activities", "proposals",
                                          "contacts", "truncated"}: exact counts, lists capped
    GET    /api/people/<address>/export   a zip: person.json and emails/<id>.eml, one per email
    DELETE /api/people/<address>          {"confirm": true} -> 200 {"emails", "activities",
                                          "proposals", "contacts", "bare_sightings"} erased, and
                                          "audit_entries" that no longer name them
An address that is not valid, or one of the fund's own, answers 400 naming `address`; an erasure
without `"confirm": true` answers 400 naming `confirm`, and nothing changes.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request, send_file

from appsrc.app_services import runtime
from appsrc.crm.people import EXPORT_FILENAME, erase_person, export_person, find_person
from appsrc.crm.validation import ValidationError
from appsrc.web.auth import admin_required

blueprint = Blueprint("people_api", __name__, url_prefix="/api/people")


@blueprint.errorhandler(ValidationError)
def _invalid(exc: ValidationError):
    return jsonify({"error": str(exc), "field": exc.field}), 400


def _confirmation() -> object:
    """The body's `confirm` (None when there is no body); the CRM accepts only True."""
    if not request.data:
        return None
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError('expected a JSON object such as {"confirm": true}', field="confirm")
    unknown = sorted(set(body) - {"confirm"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    return body.get("confirm")


@blueprint.get("/<address>")
@admin_required
def person(address: str):
    return jsonify(find_person(address, own_domains=runtime().own_domains()))


@blueprint.get("/<address>/export")
@admin_required
def person_export(address: str):
    rt = runtime()
    archive = export_person(address, rt.clock.now(), own_domains=rt.own_domains())
    # The file name never carries the address: it would end up in download folders and logs.
    response = send_file(
        archive,
        mimetype="application/zip",
        as_attachment=True,
        download_name=EXPORT_FILENAME,
        conditional=False,
        etag=False,
        max_age=None,
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{EXPORT_FILENAME}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.delete("/<address>")
@admin_required
def person_erase(address: str):
    rt = runtime()
    erased = erase_person(
        address,
        rt.clock.now(),
        own_domains=rt.own_domains(),
        directory=rt.directory,
        confirm=_confirmation(),
        actor=g.user,
    )
    return jsonify(erased)
