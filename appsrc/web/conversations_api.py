"""Placeholder: conversations and documents of investors and contacts (admin only)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("conversations_api", __name__, url_prefix="/api")
