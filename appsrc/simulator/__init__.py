"""A local Gmail API simulator, a deterministic team-mail dataset and an LLM stub.

Tests, benchmarks and demo mode point the real google-api-python-client and google-auth
at `GmailSimulator` by configuration only; see README-style docs in each module.
"""

from .auth import GMAIL_COMPOSE, GMAIL_READONLY, GMAIL_SEND
from .server import GmailSimulator

__all__ = ["GMAIL_COMPOSE", "GMAIL_READONLY", "GMAIL_SEND", "GmailSimulator"]
