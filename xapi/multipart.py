"""Reading a ``multipart/mixed`` statement request as it arrives (xAPI Data 2.4.11).

The first part is the statement JSON; each further part one attachment, with its
``X-Experience-API-Hash``, ``Content-Transfer-Encoding: binary`` and ``Content-Type``. Parts are
read from the request stream in chunks: an attachment goes through its hash into a temporary
file that stays in memory up to 1 MiB, so a large attachment never sits whole in memory while
the request is read, and a request over a limit (:mod:`xapi.limits`) is refused as soon as it
passes it.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from bridge.core.errors import ValidationFailed
from xapi.limits import LrsLimits, TooLarge

CHUNK = 64 * 1024
SPOOL_IN_MEMORY = 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
HASHES: dict[int, Callable[[], Any]] = {
    56: hashlib.sha224, 64: hashlib.sha256, 96: hashlib.sha384, 128: hashlib.sha512,
}


@dataclass
class AttachmentPart:
    """One attachment part of a ``multipart/mixed`` request, its content in a spooled file."""

    sha2: str
    content_type: str
    length: int
    file: IO[bytes]

    def read(self) -> bytes:
        """The whole content."""
        self.file.seek(0)
        return self.file.read()

    def chunks(self, size: int = 1024 * 1024) -> Iterator[bytes]:
        """The content in pieces of ``size`` bytes."""
        self.file.seek(0)
        while piece := self.file.read(size):
            yield piece

    @classmethod
    def of(cls, sha2: str, content_type: str, content: bytes) -> AttachmentPart:
        """A part holding ``content`` (for callers that have it in memory already)."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        spool.write(content)
        return cls(sha2, content_type, len(content), spool)


def _invalid(message: str, field: str = "Content-Type") -> ValidationFailed:
    return ValidationFailed(message, field=field, code="invalid_multipart")


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a ``multipart/mixed`` Content-Type."""
    if "boundary=" not in content_type:
        raise _invalid("a multipart/mixed request needs a boundary parameter")
    boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
    if not boundary:
        raise _invalid("a multipart/mixed request needs a boundary parameter")
    return boundary.encode("latin-1")


class _Stream:
    """A byte stream read in chunks with a look-ahead buffer."""

    def __init__(self, stream: IO[bytes], limits: LrsLimits) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.read_total = 0
        self.limits = limits
        self.eof = False

    def fill(self) -> bool:
        """Read one more chunk into the buffer; False at the end of the body."""
        if self.eof:
            return False
        chunk = self.stream.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.read_total += len(chunk)
        if self.read_total > self.limits.max_request_bytes:
            raise TooLarge(
                f"the request is larger than the record store's limit of {self.limits.max_request_bytes:,} "
                "bytes (GXPBRIDGE_LRS_MAX_REQUEST_BYTES)", field="Content-Length")
        self.buffer += chunk
        return True

    def until(self, marker: bytes, *, limit: int, what: str) -> bytes:
        """Everything up to ``marker`` (consumed, not returned), at most ``limit`` bytes."""
        start = 0
        while (found := self.buffer.find(marker, start)) < 0:
            if len(self.buffer) > limit:
                raise _invalid(f"the multipart {what} is longer than {limit:,} bytes")
            start = max(0, len(self.buffer) - len(marker) + 1)
            if not self.fill():
                raise _invalid(f"the multipart body ends inside its {what}")
        data = bytes(self.buffer[:found])
        del self.buffer[: found + len(marker)]
        return data

    def take(self, count: int) -> bytes:
        """The next ``count`` bytes (fewer at the end of the body)."""
        while len(self.buffer) < count and self.fill():
            pass
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def pour(self, marker: bytes, sink: Callable[[bytes], None]) -> None:
        """Pass everything up to ``marker`` to ``sink`` in pieces; consume the marker."""
        keep = len(marker) - 1
        while True:
            found = self.buffer.find(marker)
            if found >= 0:
                if found:
                    sink(bytes(self.buffer[:found]))
                del self.buffer[: found + len(marker)]
                return
            if len(self.buffer) > keep:
                sink(bytes(self.buffer[: len(self.buffer) - keep]))
                del self.buffer[: len(self.buffer) - keep]
            if not self.fill():
                raise _invalid("the multipart body ends inside a part (no closing boundary)")


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("latin-1").split("\r\n"):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise _invalid(f"the multipart part header line {line[:80]!r} has no colon")
        headers[name.strip().lower()] = value.strip()
    return headers


def read_multipart(
    stream: IO[bytes], content_type: str, limits: LrsLimits
) -> tuple[bytes, dict[str, AttachmentPart]]:
    """Read a ``multipart/mixed`` statement request: the statement JSON and the attachment parts
    by SHA-2 (each checked against its hash).

    Raises:
        ValidationFailed: A malformed body, a part without its headers or with a wrong hash, or
            two parts of the same attachment.
        TooLarge: The request, its JSON or an attachment passes a limit, or it has too many parts.
    """
    boundary = boundary_of(content_type)
    reader = _Stream(stream, limits)
    delimiter = b"--" + boundary
    while len(reader.buffer) < len(delimiter) + 2 and reader.fill():
        pass
    while reader.buffer.startswith(b"\r\n"):
        del reader.buffer[:2]
    if not reader.buffer.startswith(delimiter):
        raise _invalid("the multipart body must start with its boundary")
    del reader.buffer[: len(delimiter)]
    separator = b"\r\n" + delimiter
    statements: bytes | None = None
    attachments: dict[str, AttachmentPart] = {}
    number = 0
    while True:
        ending = reader.take(2)
        if ending == b"--":
            break
        if ending != b"\r\n":
            # Transport padding (whitespace) may follow a boundary before its line break.
            rest = reader.until(b"\r\n", limit=MAX_HEADER_BYTES, what="boundary line")
            if (ending + rest).strip(b" \t"):
                raise _invalid("a multipart boundary line carries text after the boundary")
        number += 1
        if number > limits.max_attachment_parts + 1:
            raise TooLarge(
                f"the request has more than {limits.max_attachment_parts} attachment parts, the record "
                "store's limit (GXPBRIDGE_LRS_MAX_ATTACHMENT_PARTS)", field="attachments")
        if reader.buffer.startswith(b"\r\n"):
            headers: dict[str, str] = {}
            del reader.buffer[:2]
        else:
            headers = _headers(reader.until(b"\r\n\r\n", limit=MAX_HEADER_BYTES, what="part headers"))
        if number == 1:
            statements = _json_part(reader, headers, separator, limits)
        else:
            part = _attachment_part(reader, headers, separator, limits, number)
            if part.sha2 in attachments:
                raise ValidationFailed(
                    f"multipart part {number} repeats the attachment {part.sha2}: send each attachment once",
                    field="X-Experience-API-Hash", code="attachment_duplicate")
            attachments[part.sha2] = part
    if statements is None:
        raise _invalid("the multipart body has no parts")
    return statements, attachments


def _json_part(reader: _Stream, headers: dict[str, str], separator: bytes, limits: LrsLimits) -> bytes:
    if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise _invalid("the first part of a multipart request must be the application/json statement(s)")
    collected = bytearray()

    def keep(piece: bytes) -> None:
        collected.extend(piece)
        if len(collected) > limits.max_statements_bytes:
            raise TooLarge(
                f"the statement JSON is larger than the record store's limit of "
                f"{limits.max_statements_bytes:,} bytes (GXPBRIDGE_LRS_MAX_STATEMENTS_BYTES)",
                field="statements")

    reader.pour(separator, keep)
    return bytes(collected)


def _attachment_part(reader: _Stream, headers: dict[str, str], separator: bytes, limits: LrsLimits,
                     number: int) -> AttachmentPart:
    sha2 = headers.get("x-experience-api-hash", "").strip()
    if not sha2:
        raise _invalid(f"multipart part {number} has no X-Experience-API-Hash header",
                       "X-Experience-API-Hash")
    if headers.get("content-transfer-encoding", "").strip().lower() != "binary":
        raise _invalid(f"multipart part {number} must have Content-Transfer-Encoding: binary",
                       "Content-Transfer-Encoding")
    content_type = headers.get("content-type", "").strip()
    if not content_type:
        raise _invalid(f"multipart part {number} has no Content-Type")
    algorithm = HASHES.get(len(sha2))
    digest = algorithm() if algorithm is not None else None
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    length = 0

    def keep(piece: bytes) -> None:
        nonlocal length
        length += len(piece)
        if length > limits.max_attachment_bytes:
            raise TooLarge(
                f"multipart part {number} is larger than the record store's limit of "
                f"{limits.max_attachment_bytes:,} bytes an attachment (GXPBRIDGE_LRS_MAX_ATTACHMENT_BYTES)",
                field="attachments")
        if digest is not None:
            digest.update(piece)
        spool.write(piece)

    try:
        reader.pour(separator, keep)
    except BaseException:
        spool.close()
        raise
    if digest is None or digest.hexdigest() != sha2.lower():
        spool.close()
        raise _invalid(f"multipart part {number}: X-Experience-API-Hash {sha2} is not the SHA-2 of its "
                       "content", "X-Experience-API-Hash")
    return AttachmentPart(sha2, content_type, length, spool)
