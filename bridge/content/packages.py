"""Content packages on disk: streamed in while hashed, checked as zips before anything reads them,
kept under their SHA-256 (the exact bytes a person trained on), and read back member by member.

A package is untrusted input. :func:`check_zip` refuses, each with its reason: a file that is no
zip, encrypted members, absolute or ``..`` paths (zip-slip), backslashes and control characters,
symbolic links, duplicate names, too many members, too large a total uncompressed size, and a
suspicious compression ratio (a zip bomb) — all from the central directory, before a byte is
inflated. Nothing is ever extracted: files are served straight from the zip.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic_settings import BaseSettings, SettingsConfigDict

from bridge.core.errors import DomainError, NotFound, ValidationFailed

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
CHUNK = 1024 * 1024


class ContentLimits(BaseSettings):
    """Limits on imported packages (``GXPBRIDGE_CONTENT_*`` in the environment)."""

    model_config = SettingsConfigDict(env_prefix="GXPBRIDGE_CONTENT_", extra="ignore")

    # The uploaded zip itself.
    max_package_bytes: int = 1024 * MIB
    # Members of the zip (files and folders).
    max_entries: int = 20_000
    # Sum of the members' uncompressed sizes.
    max_uncompressed_bytes: int = 4096 * MIB
    # Uncompressed / compressed size of one member (counted for members over 1 MiB) and of the whole.
    max_ratio: float = 100.0
    # The manifest (imsmanifest.xml, cmi5.xml).
    max_manifest_bytes: int = 8 * MIB
    # Hours a play link (attempt token) stays valid.
    attempt_hours: int = 12


class PackageTooLarge(DomainError):
    """A package over one of the :class:`ContentLimits` (413)."""

    status = 413
    code = "package_too_large"


@dataclass(frozen=True)
class StoredUpload:
    """An upload streamed to a temporary file: where, its SHA-256 and size."""

    path: Path
    sha256: str
    size: int
    filename: str


def package_folder(instance_path: Path) -> Path:
    """The folder holding the packages (``<instance>/content/packages``), created if missing."""
    folder = Path(instance_path) / "content" / "packages"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stream_to_disk(
    source: IO[bytes] | Iterable[bytes], folder: Path, filename: str, max_bytes: int
) -> StoredUpload:
    """Copy ``source`` to a temporary file in ``folder``, hashing as it goes (constant memory).

    Raises:
        PackageTooLarge: More than ``max_bytes`` arrived (the partial file is removed).
    """
    digest = hashlib.sha256()
    size = 0
    handle, name = tempfile.mkstemp(prefix="upload-", suffix=".zip", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            chunks: Iterable[bytes] = (
                iter(lambda: source.read(CHUNK), b"")  # type: ignore[union-attr]
                if hasattr(source, "read")
                else source
            )
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise PackageTooLarge(f"the package is over the limit of {max_bytes} bytes", field="file")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return StoredUpload(Path(name), digest.hexdigest(), size, filename)


def keep(upload: StoredUpload, folder: Path) -> Path:
    """Move a checked upload to its permanent name ``<sha256>.zip`` (read-only)."""
    target = folder / f"{upload.sha256}.zip"
    if target.exists():
        upload.path.unlink(missing_ok=True)
    else:
        os.replace(upload.path, target)
        target.chmod(0o440)
    return target


_BAD_CHARS = re.compile(r"[\x00-\x1f\\]")


def check_member_name(name: str) -> None:
    """Refuse a member name that could leave the package (zip-slip) or confuse a path."""
    if _BAD_CHARS.search(name):
        raise ValidationFailed(
            f"package member {name!r} has a backslash or a control character",
            field="file",
            code="unsafe_path",
        )
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ValidationFailed(
            f"package member {name!r} has an absolute path", field="file", code="unsafe_path"
        )
    if any(part == ".." for part in name.split("/")):
        raise ValidationFailed(
            f"package member {name!r} climbs out of the package with '..' (zip-slip)",
            field="file",
            code="unsafe_path",
        )


def check_zip(path: Path, limits: ContentLimits) -> list[str]:
    """Check the central directory of the zip at ``path``; return the names of its files.

    Raises:
        ValidationFailed: Not a zip, encrypted, unsafe names, links, duplicates (400).
        PackageTooLarge: Too many members, too large, or a suspicious compression ratio (413).
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValidationFailed(
            f"the package is not a zip file ({exc})", field="file", code="not_a_zip"
        ) from exc
    with archive:
        members = archive.infolist()
        if len(members) > limits.max_entries:
            raise PackageTooLarge(
                f"the package has {len(members)} members; the limit is {limits.max_entries}", field="file"
            )
        total = compressed = 0
        names: set[str] = set()
        for info in members:
            check_member_name(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ValidationFailed(
                    f"package member {info.filename!r} is a symbolic link", field="file", code="symlink"
                )
            if info.flag_bits & 0x1:
                raise ValidationFailed(
                    f"package member {info.filename!r} is encrypted", field="file", code="encrypted"
                )
            if info.filename in names:
                raise ValidationFailed(
                    f"package member {info.filename!r} appears twice", field="file", code="duplicate_member"
                )
            names.add(info.filename)
            total += info.file_size
            compressed += info.compress_size
            if info.file_size > MIB and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                ratio = info.file_size // max(info.compress_size, 1)
                raise PackageTooLarge(
                    f"package member {info.filename!r} expands {ratio} "
                    f"times (limit {limits.max_ratio:g}): refused as a possible zip bomb",
                    field="file",
                    code="compression_ratio",
                )
        if total > limits.max_uncompressed_bytes:
            raise PackageTooLarge(
                f"the package expands to {total} bytes; the limit is {limits.max_uncompressed_bytes}",
                field="file",
            )
        if total > MIB and total > limits.max_ratio * max(compressed, 1):
            raise PackageTooLarge(
                f"the package expands {total // max(compressed, 1)} times (limit "
                f"{limits.max_ratio:g}): refused as a possible zip bomb",
                field="file",
                code="compression_ratio",
            )
        return [n for n in archive.namelist() if not n.endswith("/")]


def read_member(path: Path, name: str, max_bytes: int) -> bytes:
    """Read one member whole (a manifest), refusing one over ``max_bytes``."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
        if info.file_size > max_bytes:
            raise PackageTooLarge(f"{name} is {info.file_size} bytes; the limit is {max_bytes}", field="file")
        with archive.open(info) as member:
            data = member.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PackageTooLarge(f"{name} is over {max_bytes} bytes", field="file")
    return data


def open_member(path: Path, name: str) -> tuple[int, Iterator[bytes]]:
    """The size and the chunks of member ``name`` of the kept package at ``path``.

    Raises:
        NotFound: No such member (or a folder, or an unsafe name).
    """
    try:
        check_member_name(name)
    except ValidationFailed as exc:
        raise NotFound(exc.message) from exc
    archive = zipfile.ZipFile(path)
    try:
        info = archive.getinfo(name)
    except KeyError:
        archive.close()
        raise NotFound(f"the package has no file {name!r}") from None
    if info.is_dir():
        archive.close()
        raise NotFound(f"{name!r} is a folder")

    def chunks() -> Iterator[bytes]:
        with archive, archive.open(info) as member:
            while block := member.read(64 * 1024):
                yield block

    return info.file_size, chunks()
