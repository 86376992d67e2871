"""Importing a content package: check the zip, parse its manifest, register a training item
version of the course with the activity IRIs the player uses, and keep the bytes by SHA-256.

A package for a course that exists becomes that course's next version, drafted through qms's
catalog (``major`` retrains, ``minor`` does not unless stated) and approved like any course
version (``POST /api/v1/training-item-versions/{id}/approve``, e-signature, assignments follow).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.content import manifests, packages
from bridge.content.iris import course_iri, unit_iri
from bridge.content.models import ContentPackage
from bridge.content.packages import ContentLimits, StoredUpload
from bridge.core.errors import Conflict, NotFound, ValidationFailed
from bridge.core.uow import UnitOfWork
from qms.documents import catalog
from qms.documents.models import TrainingItem, TrainingItemVersion
from qms.roles import AUTHORS

logger = logging.getLogger(__name__)

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$")


@dataclass(frozen=True)
class ImportRequest:
    """What to import the package as."""

    code: str
    label: str
    revision: str = "major"  # major: retrain; minor: no retraining
    title: str | None = None
    requires_signature: bool = True
    pass_score: float | None = None


def inspect(upload: StoredUpload, limits: ContentLimits) -> manifests.PackageManifest:
    """Check the zip and parse its manifest (no database)."""
    names = packages.check_zip(upload.path, limits)
    manifest_name = manifests.find_manifest(names)
    data = packages.read_member(upload.path, manifest_name, limits.max_manifest_bytes)
    return manifests.parse_manifest(manifest_name, data, set(names))


def import_package(uow: UnitOfWork, upload: StoredUpload, request: ImportRequest) -> ContentPackage:
    """Register ``upload`` (streamed to disk, hashed) as a new draft version of course ``request.code``.

    Raises:
        ValidationFailed / PackageTooLarge: The package is refused (nothing is written).
        Conflict: The same bytes are already a version of this course, or a version is in progress.
    """
    uow.actor.require(*AUTHORS, action="importing a content package")
    if not _CODE.match(request.code):
        raise ValidationFailed("code: letters, digits, '.', '_' and '-', up to 48 characters", field="code")
    if request.revision not in ("major", "minor"):
        raise ValidationFailed("revision is major (retrain) or minor (no retraining)", field="revision")
    limits = uow.policy(ContentLimits)
    manifest = inspect(upload, limits)
    session = uow.session
    item = session.scalar(select(TrainingItem).where(TrainingItem.code == request.code))
    if item is None:
        item = catalog.create_training_item(
            uow,
            code=request.code,
            kind="course",
            title=(request.title or manifest.title)[:300],
            requires_signature=request.requires_signature,
            pass_score=request.pass_score,
        )
    elif item.kind != "course":
        raise ValidationFailed(
            f"{item.code} is a {item.kind} item, not a course", field="code", code="not_a_course"
        )
    else:
        same = session.scalar(
            select(TrainingItemVersion.label)
            .join(ContentPackage, ContentPackage.item_version_id == TrainingItemVersion.id)
            .where(TrainingItemVersion.training_item_id == item.id, ContentPackage.sha256 == upload.sha256)
        )
        if same is not None:
            raise Conflict(
                f"this package (SHA-256 {upload.sha256}) is already version {same} of {item.code}",
                field="file",
                code="duplicate_package",
            )
    with uow.because(
        f"content package {upload.filename} ({manifest.standard}, SHA-256 {upload.sha256}) "
        f"imported as version {request.label} of {request.code}"
    ):
        version = catalog.create_item_version(
            uow, item.id, label=request.label, retrain=request.revision == "major"
        )
        base = uow.settings.base_url
        units = []
        for unit in manifest.units:
            entry = unit.__dict__.copy()
            entry["activity_iri"] = unit_iri(base, version.id, unit.identifier)
            units.append(entry)
        course = course_iri(base, version.id)
        # The course is the evidence; its units are parts (see bridge.content.iris).
        version.activity_iris = [course]
        version.lms_url = f"/content/start/{version.id}"
        package = ContentPackage(
            item_version_id=version.id,
            sha256=upload.sha256,
            size=upload.size,
            filename=upload.filename[:255],
            standard=manifest.standard,
            title=manifest.title[:300],
            identifier=manifest.identifier[:500],
            course_iri=course,
            units=units,
            imported_by=uow.actor.username,
        )
        session.add(package)
        session.flush()
    packages.keep(upload, packages.package_folder(uow.settings.instance_path))
    logger.info(
        "imported %s package %s as %s %s", manifest.standard, upload.sha256, request.code, request.label
    )
    return package


def package_of_version(session: Session, version_id: int) -> ContentPackage:
    """The package delivering training item version ``version_id``."""
    package = session.scalar(select(ContentPackage).where(ContentPackage.item_version_id == version_id))
    if package is None:
        raise NotFound(f"training item version {version_id} has no content package", field="item_version_id")
    return package


def list_packages(session: Session) -> list[tuple[ContentPackage, TrainingItemVersion]]:
    """Every imported package with its version, newest first."""
    return [
        (package, version)
        for package, version in session.execute(
            select(ContentPackage, TrainingItemVersion)
            .join(TrainingItemVersion, TrainingItemVersion.id == ContentPackage.item_version_id)
            .order_by(ContentPackage.id.desc())
        )
    ]


def package_path(instance_path: Path, package: ContentPackage) -> Path:
    """The kept zip of ``package``."""
    return packages.package_folder(instance_path) / f"{package.sha256}.zip"


def package_dict(package: ContentPackage) -> dict[str, object]:
    """JSON form of a package (REST, CLI)."""
    return {
        "id": package.id,
        "item_version_id": package.item_version_id,
        "sha256": package.sha256,
        "size": package.size,
        "filename": package.filename,
        "standard": package.standard,
        "title": package.title,
        "course_iri": package.course_iri,
        "units": package.units,
        "imported_at": package.imported_at.isoformat(),
        "play_url": f"/content/start/{package.item_version_id}",
    }
