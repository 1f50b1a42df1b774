"""Real local servers for the mail and digest tests: an SMTP server (aiosmtpd) with STARTTLS,
implicit TLS or none, AUTH, and switchable failures; TLS material generated at test time. Every
recipient a client names to any of them is checked by the suite-wide hard-rule ledger
(tests/hard_rule.py): it must be an active admin, whether the server then accepts the mail or not."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests import hard_rule


@dataclass(frozen=True)
class TlsMaterial:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_tls_material(directory: Path, host: str = "127.0.0.1") -> TlsMaterial:
    """A throwaway CA and a server certificate for `host` (IP and localhost SANs)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "IR Mail Desk test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = TlsMaterial(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca_file.write_bytes(ca.public_bytes(pem))
    paths.cert_file.write_bytes(cert.public_bytes(pem))
    paths.key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    authenticated_as: str | None
    tls: bool

    @property
    def message(self):
        return message_from_bytes(self.raw, policy=policy.default)


@dataclass
class SmtpServer:
    """aiosmtpd on 127.0.0.1. security: starttls (STARTTLS required, AUTH required over TLS),
    ssl (implicit TLS + AUTH), none (no TLS; AUTH not offered). `mode`: "ok", "tempfail" (451 on
    DATA), "reject" (554 on DATA), "echo-auth" (a hostile server: its 535 repeats the password),
    "vanish" (keeps the message, then drops the connection before its 250)."""

    tls: TlsMaterial | None
    security: str = "starttls"
    username: str = "digest@fund.example"
    password: str = "correct horse battery staple"
    port: int = field(default_factory=free_port)
    mode: str = "ok"
    smtputf8: bool = True  # offer SMTPUTF8 (RFC 6531) in EHLO
    received: list[Received] = field(default_factory=list)
    auth_attempts: int = 0
    _controller: Controller | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    # aiosmtpd handler hooks -------------------------------------------------------------------
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        """The attempt is what the hard rule judges, so each recipient is checked as it is named,
        before any failure mode answers."""
        hard_rule.check_smtp_recipient(address, f"SMTP server :{self.port}")
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.mode == "tempfail":
            return "451 4.3.0 Try again later"
        if self.mode == "reject":
            return "554 5.7.1 Message rejected by policy"
        hard_rule.count_smtp_send(len(envelope.rcpt_tos))
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
                session.auth_data and self.username,
                server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        if self.mode == "vanish":  # queued the message, then lost the link before saying so
            server.transport.abort()
        return "250 2.0.0 OK"

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        self.auth_attempts += 1
        if isinstance(auth_data, LoginPassword):
            ok = auth_data.login.decode() == self.username and auth_data.password.decode() == self.password
            if ok:
                return AuthResult(success=True, auth_data=auth_data)
            if self.mode == "echo-auth":
                return AuthResult(
                    success=False,
                    handled=False,
                    message=f"535 5.7.8 Bad credentials for {auth_data.login.decode()}: {auth_data.password.decode()}",
                )
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpServer:
        kwargs = {"hostname": self.host, "port": self.port, "ready_timeout": 10, "enable_SMTPUTF8": self.smtputf8}
        if self.security == "starttls":
            kwargs.update(
                tls_context=self.tls.server_context(),
                require_starttls=True,
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=True,
            )
        elif self.security == "ssl":
            kwargs.update(
                ssl_context=self.tls.server_context(),
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=False,
            )
        self._controller = Controller(self, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def secret_files(self, secrets_dir: Path, **overrides) -> None:
        """Write the files the "Configure Digest SMTP" action writes, pointing at this server."""
        values = {
            "host": self.host,
            "port": str(self.port),
            "security": self.security,
            "username": self.username,
            "password": self.password,
            "from": "digest@fund.example",
        }
        values.update(overrides)
        smtp_dir = secrets_dir / "smtp"
        smtp_dir.mkdir(parents=True, exist_ok=True)
        for name in ("host", "port", "security", "username", "password", "from"):
            path = smtp_dir / name
            path.unlink(missing_ok=True)
            if values.get(name) is not None:
                path.write_text(values[name] + "\n")
