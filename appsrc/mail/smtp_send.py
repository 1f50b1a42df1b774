"""The SMTP transport: the only module in the appliance that imports `smtplib`.

Its account is re-read at every send (`load_config`, normally `secret_files.load_smtp_config` over
the files the "Configure Digest SMTP" action writes, else `SMTP_*`), so a changed account applies
without a restart. Security is `starttls` (required: a server that does not offer STARTTLS is
refused rather than spoken to in clear), `ssl` (implicit TLS) or `none`; certificates are always
verified against the system trust store, or against `ca_file` when one is given (a fund relay with
a private CA; the tests' self-signed server). A password is never sent over an unencrypted link.

Errors are reported in our own words plus the SMTP code: the server's text after an AUTH failure
is dropped (servers have echoed the credentials), other server text is sanitized.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import cast

from appsrc.mail.message import OutgoingMessage
from appsrc.mail.sanitize import sanitize_error
from appsrc.mail.transport import Delivery, TransportError, TransportNotConfigured
from appsrc.secret_files import SecretError, SmtpConfig

NOT_CONFIGURED = "SMTP is not configured (run the StartOS action “Configure Digest SMTP”)"


# smtplib's own dot-stuffing (what SMTP.data() applies), which typeshed does not declare.
_quote_periods = cast(Callable[[bytes], bytes], smtplib._quote_periods)  # type: ignore[attr-defined]


class SmtpTransport:
    name = "smtp"

    def __init__(
        self, load_config: Callable[[], SmtpConfig | None], *, ca_file: Path | None = None, timeout_s: float = 30.0
    ) -> None:
        self._load_config = load_config
        self._ca_file = ca_file
        self._timeout_s = timeout_s

    def configured(self) -> bool:
        try:
            return self._load_config() is not None
        except SecretError:
            return True  # present but unusable: `send` reports why

    def _config(self) -> SmtpConfig:
        try:
            config = self._load_config()
        except SecretError as exc:
            raise TransportError(f"SMTP settings are unusable: {exc}", permanent=True) from None
        if config is None:
            raise TransportNotConfigured(NOT_CONFIGURED)
        return config

    def _context(self) -> ssl.SSLContext:
        # Verification and host-name checks stay on; only the trust anchors can be changed.
        return ssl.create_default_context(cafile=str(self._ca_file) if self._ca_file else None)

    def send(self, message: OutgoingMessage, now: datetime) -> Delivery:
        config = self._config()
        sender = config.sender or (config.username if config.username and "@" in config.username else None)
        if not sender:
            raise TransportError("SMTP has no From address (set “from” in Configure Digest SMTP)", permanent=True)
        if config.password and config.security == "none":
            raise TransportError(
                "refusing to send the SMTP password over an unencrypted connection (choose starttls or ssl)",
                permanent=True,
            )
        where = f"{config.host}:{config.port}"
        secrets = (config.password, config.username and config.password and f"\0{config.username}\0{config.password}")
        mime = message.to_mime(sender, now, sender_name=config.sender_name or "IR Mail Desk")
        handed_over = [False]  # set once the server has asked for the body (see `_transaction`)
        try:
            refused = self._deliver(config, sender, list(message.to), mime, handed_over)
        except TransportError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            # The server's words are dropped on purpose: an AUTH reply can carry the credentials.
            raise TransportError(
                f"SMTP server {where} rejected the username or password (code {exc.smtp_code})", permanent=True
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise TransportError(
                f"SMTP server {where} does not support what the configuration "
                "requires (STARTTLS, AUTH, or SMTPUTF8 for a non-ASCII address)",
                permanent=True,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _text in exc.recipients.values()})
            raise TransportError(
                f"SMTP server {where} refused every recipient (codes {codes})", permanent=all(c >= 500 for c in codes)
            ) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, HELO ...
            text = (
                exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            )
            raise TransportError(
                f"SMTP server {where} answered {exc.smtp_code}: {sanitize_error(text, secrets, limit=160)}",
                permanent=exc.smtp_code >= 500,
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise TransportError(
                f"SMTP server {where} presented a certificate that is not trusted "
                f"({sanitize_error(exc.verify_message, limit=120)})",
                permanent=True,
            ) from None
        except OSError as exc:  # disconnected, reset, timeout, DNS, TLS (SMTPException is an OSError)
            if handed_over[0]:
                # The server may have queued it before the link broke: no retry, no other transport.
                raise TransportError(
                    f"SMTP server {where} did not confirm the message after receiving it "
                    f"({exc.__class__.__name__}); it may have been delivered",
                    permanent=False,
                    ambiguous=True,
                ) from None
            if isinstance(exc, ssl.SSLError):
                raise TransportError(
                    f"TLS with SMTP server {where} failed ({exc.__class__.__name__}: "
                    f"{sanitize_error(exc.reason or '', limit=80)})",
                    permanent=False,
                ) from None
            raise TransportError(
                f"could not talk to SMTP server {where} ({exc.__class__.__name__}"
                f"{': ' + sanitize_error(exc.strerror, limit=80) if getattr(exc, 'strerror', None) else ''})",
                permanent=False,
            ) from None
        note = None
        if refused:
            note = f"SMTP server {where} refused {len(refused)} of {len(message.to)} recipient(s)"
        return Delivery(self.name, sender, note)

    def _deliver(self, config: SmtpConfig, sender: str, recipients: list[str], mime, handed_over: list[bool]) -> dict:
        context = self._context()
        # A host name without a DNS round trip: getfqdn() can stall for seconds in containers.
        local_hostname = socket.gethostname() or "localhost"
        if config.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host, config.port, local_hostname=local_hostname, timeout=self._timeout_s, context=context
            )
        else:
            client = smtplib.SMTP(config.host, config.port, local_hostname=local_hostname, timeout=self._timeout_s)
        finished = False
        try:
            client.ehlo()
            if config.security == "starttls":
                if not client.has_extn("starttls"):
                    raise TransportError(
                        f"SMTP server {config.host}:{config.port} does not offer STARTTLS; "
                        "refusing to send in clear (choose ssl, or none only for a "
                        "local relay)",
                        permanent=True,
                    )
                client.starttls(context=context)
                client.ehlo()
            if config.username:
                client.login(config.username, config.password or "")
            refused = self._transaction(client, sender, recipients, mime.as_bytes(), handed_over)
            finished = True
            return refused
        finally:
            try:  # the outcome is known by now: a QUIT that fails changes nothing
                if finished:
                    client.quit()
            except (smtplib.SMTPException, OSError):
                pass
            client.close()  # after a failure mid-transaction, never wait on a server's answer

    @staticmethod
    def _transaction(client, sender: str, recipients: list[str], payload: bytes, handed_over: list[bool]) -> dict:
        """smtplib's sendmail, step by step, to know the moment the message is handed over: after
        the server's 354, before the body. The envelope is the checked list, never parsed back out
        of the headers. Returns the refused recipients (some refused, not all)."""
        options = []
        if not all(a.isascii() for a in (sender, *recipients)):
            if not client.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("a non-ASCII address needs SMTPUTF8")
            options.append("SMTPUTF8")
        if client.has_extn("size"):
            options.append(f"SIZE={len(payload)}")
        code, reply = client.mail(sender, options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused = {}
        for recipient in recipients:
            code, reply = client.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
        if len(refused) == len(recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        code, reply = client.docmd("data")
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        handed_over[0] = True
        body = _quote_periods(payload)  # as smtplib's data(): the message is CRLF already
        client.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        code, reply = client.getreply()
        if code != 250:
            handed_over[0] = False  # the server answered: it refused the message
            raise smtplib.SMTPDataError(code, reply)
        return refused
