"""A local Gmail API simulator, a deterministic team-mail dataset and an LLM stub.

Tests, benchmarks and demo mode point the real google-api-python-client and google-auth
at `GmailSimulator` by configuration only (api_endpoint, the key file's token_uri and a
BatchHttpRequest batch_uri); nothing in the clients is mocked.
"""

from .auth import GMAIL_COMPOSE, GMAIL_METADATA, GMAIL_MODIFY, GMAIL_READONLY, GMAIL_SEND, MAIL_GOOGLE
from .calllog import CallRecord
from .dataset import (
    EXPECTED,
    HARD_CASE_FLAGS,
    Contact,
    Investor,
    MailboxMessage,
    TeamDataset,
    TeamMember,
    generate_mailbox_stream,
    generate_team,
)
from .faults import FaultSettings
from .llm import LlmStub
from .quota import QuotaSettings
from .server import Draft, GmailSimulator, MessageView, SentMessage, SimulatorSettings

__all__ = [
    "CallRecord",
    "Contact",
    "Draft",
    "EXPECTED",
    "FaultSettings",
    "GMAIL_COMPOSE",
    "GMAIL_METADATA",
    "GMAIL_MODIFY",
    "GMAIL_READONLY",
    "GMAIL_SEND",
    "GmailSimulator",
    "HARD_CASE_FLAGS",
    "Investor",
    "LlmStub",
    "MAIL_GOOGLE",
    "MailboxMessage",
    "MessageView",
    "QuotaSettings",
    "SentMessage",
    "SimulatorSettings",
    "TeamDataset",
    "TeamMember",
    "generate_mailbox_stream",
    "generate_team",
]
