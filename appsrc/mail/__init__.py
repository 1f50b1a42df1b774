"""Outbound mail: the digest mailer and its transports — the only code in the appliance that sends.

`mailer.DigestMailer` is the one entry point. It refuses (raises, nothing sent) any recipient who
is not an active admin, records every attempt in a `DigestRun` before sending, and tries the
transports in order: Gmail through delegation (`gmail_send`), then SMTP (`smtp_send`, the only
module that imports `smtplib`). Nothing here may ever address an investor: the digest is internal.
"""
