"""Request bodies of the API's writes, checked the same way on every blueprint that takes them."""

from __future__ import annotations

from flask import request

from appsrc.crm.validation import ValidationError


def strict_body(*allowed: str) -> dict:
    """The JSON object sent (empty when there is none), with only the fields named: anything
    else, or a body that is not an object, is refused naming it (400 by the blueprint)."""
    if not request.data:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]}", field=unknown[0])
    return body
