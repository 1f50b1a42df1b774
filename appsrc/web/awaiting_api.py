"""Placeholder: conversations waiting on the fund's reply (admin only)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("awaiting_api", __name__, url_prefix="/api/awaiting-reply")
