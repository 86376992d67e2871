"""Importing content packages: every edition registers a course version with its units, launch
paths, mastery and activity IRIs, keeps the bytes under their SHA-256; every hostile or broken
package is refused with its reason and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import stat
import zipfile

import pytest
from sqlalchemy import func, select

from bridge.content.models import ContentPackage
from bridge.content.packages import ContentLimits
from bridge.core.db import utcnow
from bridge.core.uow import UnitOfWork
from bridge.core.web import register_policy
from qms.documents import approval
from qms.documents.models import TrainingItemVersion
from tests.conftest import TEST_PASSWORD
from tests.content import builders


def post_package(client, headers, content: bytes, *, code: str = "CRS-GOWN", label: str = "1.0", **form: str):
    data = {"file": (io.BytesIO(content), "package.zip"), "code": code, "label": label, **form}
    return client.post(
        "/api/v1/courses/import", data=data, headers=headers, content_type="multipart/form-data"
    )


@pytest.fixture
def author(make_user, api_token):
    make_user("author", "qa_author")
    return api_token("author")


PACKAGES = {
    "scorm12": lambda: builders.scorm12_package(),
    "scorm2004_2": lambda: builders.scorm2004_package("scorm2004_2"),
    "scorm2004_3": lambda: builders.scorm2004_package("scorm2004_3"),
    "scorm2004_4": lambda: builders.scorm2004_package("scorm2004_4"),
    "cmi5": lambda: builders.cmi5_package(),
}


@pytest.mark.parametrize("standard", sorted(PACKAGES))
def test_each_edition_becomes_a_course_version(client, db, author, app, standard):
    content = PACKAGES[standard]()
    response = post_package(client, author, content, code=f"CRS-{standard}".replace("_", "-"))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["standard"] == standard
    assert body["sha256"] == hashlib.sha256(content).hexdigest() and body["size"] == len(content)
    [unit] = body["units"]
    version_id = body["item_version_id"]
    assert unit["activity_iri"] == f"http://127.0.0.1:8000/content/versions/{version_id}/units/" + (
        "item1" if standard != "cmi5" else "https%3A%2F%2Fexample.com%2Fcourses%2Fline-clearance%2Fau1"
    )
    expected = {"scorm12": ("sco/index.html", 0.8), "cmi5": ("au/index.html", 0.8)}.get(
        standard, ("index.html", 0.8)
    )
    assert (unit["launch"], unit["mastery_score"]) == expected
    if standard == "cmi5":
        assert unit["move_on"] == "CompletedAndPassed"
    with db.read_sessions() as s:
        version = s.get(TrainingItemVersion, version_id)
        assert version.status == "draft" and version.label == "1.0" and version.retrain
        # The course is the evidence; its units are parts of it (their results roll up).
        assert version.activity_iris == [body["course_iri"]]
        assert version.lms_url == f"/content/start/{version_id}"
        assert version.item.kind == "course" and version.item.requires_signature
    kept = (
        app.extensions["gxpbridge.settings"].instance_path / "content" / "packages" / f"{body['sha256']}.zip"
    )
    assert kept.read_bytes() == content
    assert (
        client.get(f"/api/v1/courses/versions/{version_id}/package", headers=author).get_json()["sha256"]
        == body["sha256"]
    )


def _symlink_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("imsmanifest.xml", builders.scorm12_manifest())
        archive.writestr("sco/index.html", "<p>x</p>")
        link = zipfile.ZipInfo("sco/passwd")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


XXE = """<?xml version="1.0"?>
<!DOCTYPE manifest [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<manifest identifier="x"><metadata><schemaversion>1.2</schemaversion></metadata>
<organizations><organization identifier="o"><title>&xxe;</title></organization></organizations>
<resources/></manifest>"""

REFUSALS = {
    "zip_slip": (
        lambda: builders.zip_of(
            {"imsmanifest.xml": builders.scorm12_manifest(), "sco/index.html": "x", "../../evil.html": "x"}
        ),
        400,
        "unsafe_path",
    ),
    "absolute_path": (
        lambda: builders.zip_of(
            {"imsmanifest.xml": builders.scorm12_manifest(), "sco/index.html": "x", "/etc/cron.d/x": "x"}
        ),
        400,
        "unsafe_path",
    ),
    "symlink": (_symlink_zip, 400, "symlink"),
    "zip_bomb": (
        lambda: builders.zip_of(
            {
                "imsmanifest.xml": builders.scorm12_manifest(),
                "sco/index.html": "x",
                "sco/zeros.bin": b"\0" * (20 * 1024 * 1024),
            }
        ),
        413,
        "compression_ratio",
    ),
    "xxe": (lambda: builders.zip_of({"imsmanifest.xml": XXE}), 400, "unsafe_xml"),
    "missing_manifest": (lambda: builders.zip_of({"index.html": "x"}), 400, "missing_manifest"),
    "missing_launch_file": (
        lambda: builders.zip_of({"imsmanifest.xml": builders.scorm12_manifest()}),
        400,
        "missing_launch_file",
    ),
    "launch_outside": (
        lambda: builders.zip_of({"imsmanifest.xml": builders.scorm12_manifest(href="../x.html")}),
        400,
        "unsafe_path",
    ),
    "nested_manifest": (
        lambda: builders.zip_of(
            {
                "imsmanifest.xml": builders.scorm12_manifest(),
                "sco/index.html": "x",
                "other/imsmanifest.xml": builders.scorm12_manifest(),
            }
        ),
        400,
        "nested_manifest",
    ),
    "not_a_zip": (lambda: b"PK this is not a zip", 400, "not_a_zip"),
    "cmi5_missing_au": (
        lambda: builders.zip_of({"cmi5.xml": builders.cmi5_manifest()}),
        400,
        "missing_launch_file",
    ),
    "unknown_edition": (
        lambda: builders.zip_of(
            {
                "imsmanifest.xml": builders.scorm12_manifest().replace(
                    "<schemaversion>1.2</schemaversion>", "<schemaversion>9.9</schemaversion>"
                ),
                "sco/index.html": "x",
            }
        ),
        400,
        "unknown_edition",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_hostile_and_broken_packages_are_refused_with_their_reason(client, db, author, app, case):
    make, status, code = REFUSALS[case]
    response = post_package(client, author, make())
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"] == code, response.get_json()
    assert response.get_json()["message"]
    with db.read_sessions() as s:
        assert s.scalar(select(func.count()).select_from(ContentPackage)) == 0
        assert s.scalar(select(func.count()).select_from(TrainingItemVersion)) == 0
    folder = app.extensions["gxpbridge.settings"].instance_path / "content" / "packages"
    assert not list(folder.glob("*"))  # nothing kept, no temporary file left


def test_limits_on_entries_total_size_and_upload(client, db, author, app):
    register_policy(app, ContentLimits(max_entries=3))
    files = {"imsmanifest.xml": builders.scorm12_manifest(), "sco/index.html": "x", "a": "1", "b": "2"}
    response = post_package(client, author, builders.zip_of(files))
    assert response.status_code == 413 and "4 members" in response.get_json()["message"]
    register_policy(app, ContentLimits(max_uncompressed_bytes=1000))
    response = post_package(client, author, builders.zip_of({**files, "big": "x" * 2000}))
    assert response.status_code == 413 and "expands to" in response.get_json()["message"]
    register_policy(app, ContentLimits(max_package_bytes=100))
    response = post_package(client, author, builders.scorm12_package())
    assert response.status_code == 413 and response.get_json()["error"] == "package_too_large"


def test_a_learner_cannot_import_and_cookie_writes_need_csrf(client, make_user, api_token):
    make_user("learner1", "learner")
    response = post_package(client, api_token("learner1"), builders.scorm12_package())
    assert response.status_code == 403


def test_a_new_package_of_a_course_is_its_next_version_major_or_minor(
    client, db, author, make_user, clock, runner
):
    first = post_package(client, author, builders.scorm12_package(), code="CRS-GOWN", label="1.0")
    assert first.status_code == 201
    # A version in progress: the next import waits for its approval.
    again = post_package(client, author, builders.scorm12_package(title="v2"), code="CRS-GOWN", label="2.0")
    assert again.status_code == 409 and again.get_json()["error"] == "version_in_progress"
    approver = make_user("approver", "qa_approver")
    with UnitOfWork(db, approver) as uow:
        approval.approve_course_version(
            uow,
            first.get_json()["item_version_id"],
            username="approver",
            password=TEST_PASSWORD,
            effective_at=utcnow() + dt.timedelta(days=1),
            lockout_threshold=3,
        )
        uow.commit()
    clock.advance(days=2)
    assert runner.invoke(args=["qms", "sweep", "effective"]).exit_code == 0
    same = post_package(client, author, builders.scorm12_package(), code="CRS-GOWN", label="1.1")
    assert same.status_code == 409 and same.get_json()["error"] == "duplicate_package"
    minor = post_package(
        client,
        author,
        builders.scorm12_package(title="typo fixed"),
        code="CRS-GOWN",
        label="1.1",
        revision="minor",
    )
    assert minor.status_code == 201, minor.get_json()
    with db.read_sessions() as s:
        versions = s.scalars(select(TrainingItemVersion).order_by(TrainingItemVersion.seq)).all()
        assert [(v.label, v.seq, v.retrain, v.baseline_seq) for v in versions] == [
            ("1.0", 1, True, 1),
            ("1.1", 2, False, 1),
        ]
        assert versions[0].activity_iris != versions[1].activity_iris  # each version its own IRIs


def test_cli_imports_a_package(runner, db, tmp_path):
    path = tmp_path / "course.zip"
    path.write_bytes(builders.scorm2004_package("scorm2004_3"))
    result = runner.invoke(
        args=[
            "course",
            "import",
            str(path),
            "--code",
            "CRS-CLI",
            "--label",
            "1.0",
            "--no-signature",
            "--pass-score",
            "0.8",
        ]
    )
    assert result.exit_code == 0, result.output
    assert '"standard": "scorm2004_3"' in result.output
    with db.read_sessions() as s:
        version = s.scalars(select(TrainingItemVersion)).one()
        assert version.item.pass_score == 0.8 and not version.item.requires_signature
    bad = tmp_path / "bad.zip"
    bad.write_bytes(builders.zip_of({"index.html": "x"}))
    result = runner.invoke(args=["course", "import", str(bad), "--code", "CRS-CLI2", "--label", "1.0"])
    assert result.exit_code == 1 and "missing_manifest" in result.output
