"""Placeholder: approvals in groups (by thread, by investor) (admin only)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("approvals_api", __name__, url_prefix="/api/approvals")
