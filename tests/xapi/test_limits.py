"""What one request may carry: empty batches, the limits of xapi/limits.py (413 naming the
limit), repeated attachment parts, and attachments read as they arrive."""

from __future__ import annotations

import hashlib
import io
import json
import uuid

import pytest

from bridge.core.web import register_policy
from tests.xapi.conftest import basic, statement
from tests.xapi.test_attachments_signed import BOUNDARY, attachment_meta, multipart, send
from xapi.limits import LrsLimits
from xapi.multipart import SPOOL_IN_MEMORY, read_multipart


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_an_empty_batch_is_answered_200_with_no_ids(client, lrs_headers, version):
    """Moodle's log store posts [] on every cron run with nothing queued."""
    response = client.post("/xapi/statements", data="[]", content_type="application/json",
                           headers=lrs_headers[version])
    assert response.status_code == 200, response.json
    assert response.json == []
    assert client.get("/xapi/statements", headers=lrs_headers[version]).json["statements"] == []


def test_an_empty_batch_still_needs_the_write_scope(client, make_credential):
    key, secret = make_credential("reader", scopes=("statements/read",))
    headers = {"Authorization": basic(key, secret), "X-Experience-API-Version": "1.0.3"}
    response = client.post("/xapi/statements", data="[]", content_type="application/json", headers=headers)
    assert response.status_code == 403


@pytest.fixture
def small_limits(app):
    limits = LrsLimits(max_statements=3, max_statements_bytes=4000, max_attachment_bytes=100,
                       max_attachment_parts=2, max_request_bytes=6000)
    register_policy(app, limits)
    return limits


def test_too_many_statements_is_413_naming_the_limit(client, lrs_headers, small_limits):
    headers = lrs_headers["1.0.3"]
    response = client.post("/xapi/statements", json=[statement() for _ in range(4)], headers=headers)
    assert response.status_code == 413
    assert response.json["error"] == "request_too_large" and "at most 3 a request" in response.json["message"]
    three = client.post("/xapi/statements", json=[statement() for _ in range(3)], headers=headers)
    assert three.status_code == 200


def test_statement_json_over_the_limit_is_413(client, lrs_headers, small_limits):
    big = statement(result={"response": "x" * 5000})
    response = client.post("/xapi/statements", json=big, headers=lrs_headers["1.0.3"])
    assert response.status_code == 413 and "4,000 bytes" in response.json["message"]
    assert client.get("/xapi/statements", headers=lrs_headers["1.0.3"]).json["statements"] == []


def test_attachment_over_the_limit_is_413(client, lrs_headers, small_limits):
    content = b"y" * 101
    body = statement(attachments=[attachment_meta(content)])
    response = send(client, lrs_headers["1.0.3"], multipart(body, [("text/plain", content)]))
    assert response.status_code == 413 and "100 bytes an attachment" in response.json["message"]


def test_too_many_parts_is_413(client, lrs_headers, small_limits):
    contents = [b"a", b"b", b"c"]
    body = statement(attachments=[attachment_meta(c) for c in contents])
    response = send(client, lrs_headers["1.0.3"], multipart(body, [("text/plain", c) for c in contents]))
    assert response.status_code == 413 and "more than 2 attachment parts" in response.json["message"]


def test_request_over_the_limit_is_413(client, lrs_headers, small_limits):
    contents = [b"a" * 90, b"b" * 90]
    body = statement(attachments=[attachment_meta(c) for c in contents], result={"response": "z" * 3900})
    raw = multipart(body, [("text/plain", c) for c in contents])
    response = send(client, lrs_headers["1.0.3"], raw + b"\r\n" * 1000)
    assert response.status_code == 413 and "6,000 bytes" in response.json["message"]


def test_a_repeated_attachment_part_is_refused(client, lrs_headers, db):
    content = b"evidence"
    body = statement(id=str(uuid.uuid4()), attachments=[attachment_meta(content)])
    response = send(client, lrs_headers["1.0.3"], multipart(body, [("text/plain", content)] * 3))
    assert response.status_code == 400
    assert response.json["error"] == "attachment_duplicate"
    assert response.json["field"] == "X-Experience-API-Hash"
    found = client.get(f"/xapi/statements?statementId={body['id']}", headers=lrs_headers["1.0.3"])
    assert found.status_code == 404


def test_a_large_attachment_is_spooled_to_disk_while_read():
    content = bytes(range(256)) * (3 * SPOOL_IN_MEMORY // 256)
    raw = multipart(statement(attachments=[attachment_meta(content)]), [("application/pdf", content)])
    body, parts = read_multipart(io.BytesIO(raw), f"multipart/mixed; boundary={BOUNDARY}", LrsLimits())
    assert json.loads(body)["actor"] == statement()["actor"]
    (part,) = parts.values()
    assert part.file._rolled  # on disk, not in memory
    assert part.length == len(content) and part.read() == content


def test_a_large_attachment_round_trips(client, lrs_headers):
    content = bytes(range(256)) * (3 * SPOOL_IN_MEMORY // 256) + b"tail"
    headers = lrs_headers["2.0.0"]
    body = statement(id=str(uuid.uuid4()), attachments=[attachment_meta(content, "application/pdf")])
    assert send(client, headers, multipart(body, [("application/pdf", content)])).status_code == 200
    got = client.get(f"/xapi/statements?statementId={body['id']}&attachments=true", headers=headers)
    assert got.status_code == 200
    assert hashlib.sha256(content).hexdigest().encode() in got.data
    assert content in got.data
