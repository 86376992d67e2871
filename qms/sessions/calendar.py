"""iCalendar (RFC 5545) invitations and cancellations of a training session (iTIP, RFC 5546)."""

from __future__ import annotations

import datetime as dt
from email.utils import parseaddr


def _text(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts, current = [], b""
    for char in line:
        encoded = char.encode()
        if len(current) + len(encoded) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += encoded
    parts.append(current.decode())
    return "\r\n ".join(parts)


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def session_ics(*, method: str, uid: str, sequence: int, title: str, starts_at: dt.datetime,
                ends_at: dt.datetime, location: str | None, organizer: str, attendee_name: str,
                attendee_email: str, stamp: dt.datetime, url: str) -> str:
    """One VEVENT for one attendee: ``REQUEST`` invites, ``CANCEL`` cancels (same UID, later SEQUENCE)."""
    name, address = parseaddr(organizer)
    lines = [
        "BEGIN:VCALENDAR", "PRODID:-//GxP Bridge//Training sessions//EN", "VERSION:2.0",
        f"METHOD:{method}", "CALSCALE:GREGORIAN", "BEGIN:VEVENT",
        f"UID:{uid}", f"SEQUENCE:{sequence}", f"DTSTAMP:{_utc(stamp)}",
        f"DTSTART:{_utc(starts_at)}", f"DTEND:{_utc(ends_at)}", f"SUMMARY:{_text(title)}",
        f"URL:{url}",
        f"ORGANIZER;CN={_text(name or 'GxP Bridge')}:mailto:{address}",
        f"ATTENDEE;CN={_text(attendee_name)};ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:"
        f"mailto:{attendee_email}",
        f"STATUS:{'CANCELLED' if method == 'CANCEL' else 'CONFIRMED'}",
    ]
    if location:
        lines.append(f"LOCATION:{_text(location)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
