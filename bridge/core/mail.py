"""Outgoing e-mail: MIME messages with text and HTML parts (and an iCalendar part), sent over
SMTP (plain, STARTTLS or implicit TLS) with the ``GXPBRIDGE_SMTP_*`` settings.

Every message carries a ``Message-ID`` derived from its idempotency key, so the same notice sent
again (after a crash in the residual window, see docs/notifications.md) bears the same id and
receivers can recognise it. :func:`send_then_mark` commits the sender's own record of the send in
a transaction of its own right after the server accepted the message: a worker that dies after
that never sends it again.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, parseaddr

from bridge.core import outbox
from bridge.core.actor import SYSTEM
from bridge.core.db import Database
from bridge.core.settings import Settings
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)


class MailNotConfigured(Exception):
    """No SMTP host is configured: the site does not send e-mail."""


@dataclass(frozen=True)
class Mail:
    """One e-mail to send.

    Attributes:
        to: Recipient addresses.
        subject: The subject line.
        text: The plain-text part.
        html: The HTML part (already escaped by its template), if any.
        idempotency_key: What makes this message this message; the ``Message-ID`` derives from it.
        calendar: An iCalendar object (``text/calendar``) and its method (``REQUEST``/``CANCEL``).
        headers: Extra headers.
    """

    to: tuple[str, ...]
    subject: str
    text: str
    idempotency_key: str
    html: str | None = None
    calendar: tuple[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def smtp_configured(settings: Settings) -> bool:
    """Whether the site sends e-mail at all."""
    return bool(settings.smtp_host)


def message_id_for(key: str, settings: Settings) -> str:
    """The ``Message-ID`` of the message whose idempotency key is ``key`` (stable)."""
    domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "gxpbridge.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def _header(value: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8")


def build_message(mail: Mail, settings: Settings, *, date: float | None = None) -> Message:
    """The MIME message: text, then HTML as the alternative, then the calendar part (and the
    same calendar as an ``.ics`` attachment for clients that ignore the alternative).
    """
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(mail.text, "plain", "utf-8"))
    if mail.html is not None:
        body.attach(MIMEText(mail.html, "html", "utf-8"))
    message: Message = body
    if mail.calendar is not None:
        ics, method = mail.calendar
        calendar = MIMEText(ics, "calendar", "utf-8")
        calendar.set_param("method", method)
        body.attach(calendar)
        message = MIMEMultipart("mixed")
        message.attach(body)
        attachment = MIMEApplication(ics.encode(), "ics")
        attachment.add_header("Content-Disposition", "attachment", filename="invite.ics")
        message.attach(attachment)
    message["From"] = _header(settings.smtp_from)
    message["To"] = ", ".join(mail.to)
    message["Subject"] = _header(mail.subject)
    message["Message-ID"] = message_id_for(mail.idempotency_key, settings)
    message["Date"] = formatdate(date, usegmt=True)
    message["Auto-Submitted"] = "auto-generated"
    for name, value in mail.headers.items():
        message[name] = _header(value)
    return message


class SmtpTransport:
    """One SMTP connection, opened on first use and kept for the next messages."""

    def __init__(self, settings: Settings) -> None:
        """Prepare a connection to the configured server (nothing is opened yet)."""
        if not settings.smtp_host:
            raise MailNotConfigured("GXPBRIDGE_SMTP_HOST is not set")
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _port(self) -> int:
        if self.settings.smtp_port:
            return self.settings.smtp_port
        return {"tls": 465, "starttls": 587}.get(self.settings.smtp_security, 25)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        host = s.smtp_host or ""
        smtp: smtplib.SMTP
        if s.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(host, self._port(), timeout=s.smtp_timeout,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, self._port(), timeout=s.smtp_timeout)
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        if s.smtp_user:
            smtp.login(s.smtp_user, s.smtp_password or "")
        return smtp

    def send(self, message: Message) -> None:
        """Send ``message``; a connection the server closed since the last one is reopened once."""
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                self._smtp.send_message(message)
                return
            except smtplib.SMTPServerDisconnected:
                self._smtp = None
                if attempt == 2:
                    raise

    def close(self) -> None:
        """Say goodbye to the server."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None


_local = threading.local()


def transport_for(settings: Settings) -> SmtpTransport:
    """This thread's transport for ``settings`` (the connection is reused between messages)."""
    key = (settings.smtp_host, settings.smtp_port, settings.smtp_security, settings.smtp_user)
    cached: tuple[tuple[object, ...], SmtpTransport] | None = getattr(_local, "transport", None)
    if cached is None or cached[0] != key:
        if cached is not None:
            cached[1].close()
        cached = (key, SmtpTransport(settings))
        _local.transport = cached
    return cached[1]


def close_transports() -> None:
    """Close this thread's SMTP connection (end of a relay run, tests)."""
    cached = getattr(_local, "transport", None)
    if cached is not None:
        cached[1].close()
        _local.transport = None


Mark = Callable[[UnitOfWork, str], None]


def _commit(db: Database, work: Callable[[UnitOfWork], None]) -> None:
    with UnitOfWork(db, SYSTEM) as uow:
        work(uow)
        uow.commit()


def send_then_mark(db: Database, mail: Mail, mark: Mark, *, before: Mark | None = None,
                   on_error: Callable[[UnitOfWork, BaseException], None] | None = None) -> str:
    """Send ``mail`` and at once commit ``mark(uow, message_id)`` in a transaction of its own.

    ``before(uow, message_id)`` is committed first (the sender's "sending" record), and
    ``on_error(uow, exc)`` when the server refuses or cannot be reached (the error propagates).
    The caller must not hold a write transaction on ``db`` (on SQLite it would hold the write
    lock these need). Between the server's acceptance and the commit of the mark lies the
    residual window in which a crash leads to the same message (same ``Message-ID``) being sent
    again. Returns the ``Message-ID``.
    """
    message = build_message(mail, db.settings)
    message_id = str(message["Message-ID"])
    if before is not None:
        _commit(db, lambda uow: before(uow, message_id))
    transport = transport_for(db.settings)
    try:
        transport.send(message)
    except (smtplib.SMTPException, OSError) as exc:
        transport.close()
        if on_error is not None:
            error: BaseException = exc
            _commit(db, lambda uow: on_error(uow, error))
        raise
    _commit(db, lambda uow: mark(uow, message_id))
    return message_id


# A relay thread that ends says goodbye to its SMTP server.
outbox.on_thread_end(close_transports)
