"""Sending one mail over SMTP with the standard library (blocking: run it in a thread)."""

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr


@dataclass(frozen=True)
class SmtpServer:
    """Where and how mail is sent."""

    host: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    timeout_s: float = 30.0
    ca_file: Path | None = None


def send(server: SmtpServer, message: EmailMessage) -> None:
    """Send ``message``; `smtplib.SMTPException` or `OSError` say why it failed."""
    with smtplib.SMTP(server.host, server.port, timeout=server.timeout_s) as smtp:
        if server.starttls:
            smtp.starttls(context=ssl.create_default_context(cafile=server.ca_file))
        if server.username is not None:
            smtp.login(server.username, server.password or "")
        smtp.send_message(message)


class _SmtpSettings(Protocol):
    smtp_host: str | None
    smtp_port: int
    smtp_starttls: bool
    smtp_username: str | None
    smtp_password: SecretStr | None
    smtp_timeout_s: float
    smtp_ca_file: Path | None


def smtp_server(settings: _SmtpSettings) -> SmtpServer | None:
    """The SMTP server of the service's settings; None when e-mail is off."""
    if settings.smtp_host is None:
        return None
    password = settings.smtp_password
    return SmtpServer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=None if password is None else password.get_secret_value(),
        timeout_s=settings.smtp_timeout_s,
        ca_file=settings.smtp_ca_file,
    )
