"""Manifests of content packages: SCORM 1.2 and 2004 (2nd, 3rd, 4th editions) ``imsmanifest.xml``,
cmi5 ``cmi5.xml``. Parsed with defusedxml (no DTDs, no entities: no XXE, no billion laughs).

The result is a :class:`PackageManifest`: the standard and edition, the course title, and its
launchable units (SCORM SCOs and assets an item launches; cmi5 assignable units) with their
launch paths and mastery criteria.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from bridge.core.errors import ValidationFailed

logger = logging.getLogger(__name__)

SCORM_MANIFEST = "imsmanifest.xml"
CMI5_MANIFEST = "cmi5.xml"
STANDARDS = ("scorm12", "scorm2004_2", "scorm2004_3", "scorm2004_4", "cmi5")
MOVE_ON = ("Passed", "Completed", "CompletedAndPassed", "CompletedOrPassed", "NotApplicable")


@dataclass
class Unit:
    """A launchable unit: a SCORM SCO (or launched asset) or a cmi5 AU."""

    identifier: str
    title: str
    launch: str  # path inside the package (or an absolute URL for a cmi5 AU), with its query
    scorm_type: str = "sco"  # sco | asset | au
    mastery_score: float | None = None  # scaled 0..1
    completion_threshold: float | None = None
    move_on: str | None = None  # cmi5
    launch_parameters: str | None = None  # cmi5 launchParameters
    data_from_lms: str | None = None  # SCORM 1.2 adlcp:datafromlms / 2004 adlcp:dataFromLMS


@dataclass
class PackageManifest:
    """What a manifest declares."""

    standard: str
    title: str
    identifier: str
    units: list[Unit] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (stored with the package)."""
        return asdict(self)


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _local(child.tag) == name]


def _child(element: Element, name: str) -> Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _text(element: Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _attr(element: Element, name: str) -> str | None:
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


def parse_xml(data: bytes, what: str) -> Element:
    """Parse untrusted XML, refusing DTDs and entities (XXE) and malformed documents."""
    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ValidationFailed(
            f"{what} declares a DTD or entities, refused (XXE protection): {exc}",
            field="file",
            code="unsafe_xml",
        ) from exc
    except ParseError as exc:
        raise ValidationFailed(
            f"{what} is not well-formed XML: {exc}", field="file", code="bad_manifest"
        ) from exc


def _launch_path(href: str, base: str, files: set[str], what: str) -> str:
    """The path of a launch file inside the package, checked to exist and to stay inside."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        raise ValidationFailed(
            f"{what} launches {href!r}, outside the package", field="file", code="external_launch"
        )
    joined = posixpath.normpath(posixpath.join(base, unquote(parts.path))) if parts.path else ""
    if not joined or joined.startswith(("../", "/")) or joined == "..":
        raise ValidationFailed(
            f"{what} launches {href!r}, outside the package", field="file", code="unsafe_path"
        )
    if joined not in files:
        raise ValidationFailed(
            f"{what} launches {joined!r}, which the package does not contain",
            field="file",
            code="missing_launch_file",
        )
    return joined + (f"?{parts.query}" if parts.query else "")


def _edition(root: Element, data: bytes) -> str:
    metadata = _child(root, "metadata")
    version = _text(_child(metadata, "schemaversion")) if metadata is not None else ""
    if version == "1.2" or (not version and b"adlcp_rootv1p2" in data):
        return "scorm12"
    if "4th" in version:
        return "scorm2004_4"
    if "3rd" in version:
        return "scorm2004_3"
    if version in ("CAM 1.3", "2004 2nd Edition"):
        return "scorm2004_2"
    if not version and b"adlcp_v1p3" in data:
        return "scorm2004_3"
    raise ValidationFailed(
        f"unknown SCORM schemaversion {version!r}: expected 1.2, CAM 1.3, "
        "2004 3rd Edition or 2004 4th Edition",
        field="file",
        code="unknown_edition",
    )


def _mastery_2004(item: Element) -> tuple[float | None, float | None]:
    mastery = threshold = None
    sequencing = _child(item, "sequencing")
    if sequencing is not None:
        objectives = _child(sequencing, "objectives")
        primary = _child(objectives, "primaryObjective") if objectives is not None else None
        if primary is not None and (_attr(primary, "satisfiedByMeasure") or "").lower() == "true":
            measure = _text(_child(primary, "minNormalizedMeasure"))
            mastery = float(measure) if measure else 1.0
    completion = _child(item, "completionThreshold")
    if completion is not None:
        value = _attr(completion, "minProgressMeasure") or _text(completion)
        threshold = float(value) if value else None
    return mastery, threshold


def parse_scorm(data: bytes, files: set[str]) -> PackageManifest:
    """Parse an ``imsmanifest.xml`` (SCORM 1.2 or 2004)."""
    root = parse_xml(data, SCORM_MANIFEST)
    if _local(root.tag) != "manifest":
        raise ValidationFailed("imsmanifest.xml has no <manifest> root", field="file", code="bad_manifest")
    standard = _edition(root, data)
    organizations = _child(root, "organizations")
    resources = _child(root, "resources")
    if organizations is None or resources is None:
        raise ValidationFailed(
            "imsmanifest.xml needs <organizations> and <resources>", field="file", code="bad_manifest"
        )
    orgs = _children(organizations, "organization")
    if not orgs:
        raise ValidationFailed("imsmanifest.xml declares no organization", field="file", code="bad_manifest")
    default = organizations.get("default")
    org = next((o for o in orgs if o.get("identifier") == default), orgs[0])
    by_id = {r.get("identifier"): r for r in _children(resources, "resource")}
    resources_base = _attr(resources, "base") or ""
    units: list[Unit] = []

    def walk(parent: Element) -> None:
        for item in _children(parent, "item"):
            ref = item.get("identifierref")
            if ref:
                resource = by_id.get(ref)
                if resource is None:
                    raise ValidationFailed(
                        f"item {item.get('identifier')!r} names the missing resource {ref!r}",
                        field="file",
                        code="bad_manifest",
                    )
                href = resource.get("href") or ""
                if not href:
                    raise ValidationFailed(
                        f"resource {ref!r} has no href to launch", field="file", code="missing_launch_file"
                    )
                base = posixpath.join(resources_base, _attr(resource, "base") or "")
                launch = _launch_path(href, base, files, f"item {item.get('identifier')!r}")
                parameters = item.get("parameters")
                if parameters:
                    launch += ("&" if "?" in launch else "?") + parameters.lstrip("?&")
                kind = (_attr(resource, "scormtype") or _attr(resource, "scormType") or "sco").lower()
                if standard == "scorm12":
                    raw = _text(_child(item, "masteryscore"))
                    mastery, threshold = (float(raw) / 100 if raw else None), None
                    from_lms = _text(_child(item, "datafromlms")) or None
                else:
                    mastery, threshold = _mastery_2004(item)
                    from_lms = _text(_child(item, "dataFromLMS")) or None
                units.append(
                    Unit(
                        identifier=item.get("identifier") or ref,
                        title=_text(_child(item, "title")),
                        launch=launch,
                        scorm_type=kind,
                        mastery_score=mastery,
                        completion_threshold=threshold,
                        data_from_lms=from_lms,
                    )
                )
            walk(item)

    walk(org)
    if not units:
        raise ValidationFailed(
            "the organization launches nothing (no item names a resource)",
            field="file",
            code="missing_launch_file",
        )
    title = _text(_child(org, "title")) or root.get("identifier") or "Untitled course"
    return PackageManifest(
        standard=standard, title=title, identifier=root.get("identifier") or "", units=units
    )


def _langstring(element: Element | None) -> str:
    if element is None:
        return ""
    found = _child(element, "langstring")
    return _text(found) if found is not None else _text(element)


def parse_cmi5(data: bytes, files: set[str]) -> PackageManifest:
    """Parse a cmi5 course structure (``cmi5.xml``)."""
    root = parse_xml(data, CMI5_MANIFEST)
    if _local(root.tag) != "courseStructure":
        raise ValidationFailed("cmi5.xml has no <courseStructure> root", field="file", code="bad_manifest")
    course = _child(root, "course")
    if course is None or not course.get("id"):
        raise ValidationFailed("cmi5.xml needs a <course> with an id", field="file", code="bad_manifest")
    units: list[Unit] = []
    for au in root.iter():
        if _local(au.tag) != "au":
            continue
        au_id = au.get("id") or ""
        url = _text(_child(au, "url"))
        if not au_id or not url:
            raise ValidationFailed(
                "every cmi5 <au> needs an id and a <url>", field="file", code="bad_manifest"
            )
        move_on = au.get("moveOn") or "NotApplicable"
        if move_on not in MOVE_ON:
            raise ValidationFailed(
                f"AU {au_id!r}: moveOn {move_on!r} is not one of {', '.join(MOVE_ON)}",
                field="file",
                code="bad_manifest",
            )
        mastery = au.get("masteryScore")
        parts = urlsplit(url)
        launch = url if parts.scheme in ("http", "https") else _launch_path(url, "", files, f"AU {au_id!r}")
        units.append(
            Unit(
                identifier=au_id,
                title=_langstring(_child(au, "title")),
                launch=launch,
                scorm_type="au",
                mastery_score=float(mastery) if mastery else None,
                move_on=move_on,
                launch_parameters=_text(_child(au, "launchParameters")) or None,
            )
        )
    if not units:
        raise ValidationFailed(
            "cmi5.xml declares no assignable unit", field="file", code="missing_launch_file"
        )
    return PackageManifest(
        standard="cmi5",
        title=_langstring(_child(course, "title")) or course.get("id", ""),
        identifier=course.get("id", ""),
        units=units,
    )


def find_manifest(names: list[str]) -> str:
    """The one manifest at the package's root; refuses none, both, or nested ones."""
    nested = [n for n in names if "/" in n and posixpath.basename(n) in (SCORM_MANIFEST, CMI5_MANIFEST)]
    if nested:
        raise ValidationFailed(
            f"the package holds a nested manifest {nested[0]!r}: one course per package, "
            "its manifest at the root",
            field="file",
            code="nested_manifest",
        )
    root = [n for n in names if n in (SCORM_MANIFEST, CMI5_MANIFEST)]
    if not root:
        raise ValidationFailed(
            "the package has no imsmanifest.xml (SCORM) nor cmi5.xml (cmi5) at its root",
            field="file",
            code="missing_manifest",
        )
    if len(root) > 1:
        raise ValidationFailed(
            "the package has both imsmanifest.xml and cmi5.xml: which course is it?",
            field="file",
            code="nested_manifest",
        )
    return root[0]


def parse_manifest(name: str, data: bytes, files: set[str]) -> PackageManifest:
    """Parse the manifest ``name`` of a package whose files are ``files``."""
    return parse_cmi5(data, files) if name == CMI5_MANIFEST else parse_scorm(data, files)
