"""Attachments in multipart/mixed (stored once by SHA-2) and signed statements (JWS)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid

import pytest
from sqlalchemy import func, select

from tests.xapi.conftest import statement
from xapi.store import AttachmentRow

SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"
BOUNDARY = "gxp-boundary-42"


def multipart(
    body: object,
    parts: list[tuple[str, bytes]],
    *,
    encoding: str = "binary",
    hash_override: str | None = None,
) -> bytes:
    chunks = [
        f"--{BOUNDARY}\r\nContent-Type: application/json\r\n\r\n".encode(),
        json.dumps(body).encode(),
        b"\r\n",
    ]
    for content_type, content in parts:
        sha2 = hash_override or hashlib.sha256(content).hexdigest()
        chunks.append(
            f"--{BOUNDARY}\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n"
            f"X-Experience-API-Hash: {sha2}\r\n\r\n".encode()
        )
        chunks.extend([content, b"\r\n"])
    chunks.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(chunks)


def attachment_meta(
    content: bytes, content_type: str = "text/plain", usage: str = "https://gxp.example/evidence"
):
    return {
        "usageType": usage,
        "display": {"en-US": "evidence"},
        "contentType": content_type,
        "length": len(content),
        "sha2": hashlib.sha256(content).hexdigest(),
    }


def send(client, headers, body: bytes):
    return client.post(
        "/xapi/statements",
        data=body,
        headers=dict(headers, **{"Content-Type": f"multipart/mixed; boundary={BOUNDARY}"}),
    )


def test_attachment_round_trip_and_stored_once(client, lrs_headers, db):
    h = lrs_headers["1.0.3"]
    content = b"Signed training record, SOP-014 rev 3"
    body = [
        statement(attachments=[attachment_meta(content)]),
        statement(attachments=[attachment_meta(content)]),
    ]
    response = send(client, h, multipart(body, [("text/plain", content)]))
    assert response.status_code == 200, response.json
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(AttachmentRow)) == 1
    got = client.get(f"/xapi/statements?statementId={response.json[0]}&attachments=true", headers=h)
    assert got.status_code == 200 and got.content_type.startswith("multipart/mixed")
    assert content in got.data and hashlib.sha256(content).hexdigest().encode() in got.data
    plain = client.get(f"/xapi/statements?statementId={response.json[0]}", headers=h)
    assert plain.content_type == "application/json"


@pytest.mark.parametrize(
    ("problem", "field"),
    [
        ("missing_part", "statements[0].attachments"),
        ("extra_part", "attachments"),
        ("wrong_hash", "X-Experience-API-Hash"),
        ("not_binary", "Content-Transfer-Encoding"),
    ],
)
def test_attachment_problems_are_400(client, lrs_headers, db, problem, field):
    content = b"evidence"
    body = [statement(attachments=[attachment_meta(content)])]
    if problem == "missing_part":
        raw = multipart(body, [])
    elif problem == "extra_part":
        raw = multipart(body, [("text/plain", content), ("text/plain", b"unrelated")])
    elif problem == "wrong_hash":
        raw = multipart(body, [("text/plain", content)], hash_override="0" * 64)
    else:
        raw = multipart(body, [("text/plain", content)], encoding="base64")
    response = send(client, lrs_headers["1.0.3"], raw)
    assert response.status_code == 400 and response.json["field"] == field


def _signing_material():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "GxP content signer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _sign(payload: dict, pem: bytes, x5c: str, alg: str = "RS256") -> bytes:
    from jwcrypto import jwk, jws

    token = jws.JWS(json.dumps(payload).encode())
    token.add_signature(jwk.JWK.from_pem(pem), alg=alg, protected=json.dumps({"alg": alg, "x5c": [x5c]}))
    return token.serialize(compact=True).encode()


@pytest.fixture(scope="module")
def signer():
    return _signing_material()


def _signed_request(payload: dict, signed_payload: dict, signer, alg: str = "RS256") -> bytes:
    pem, x5c = signer
    jws_bytes = _sign(signed_payload, pem, x5c, alg)
    body = dict(payload, attachments=[attachment_meta(jws_bytes, "application/octet-stream", SIGNATURE)])
    return multipart(body, [("application/octet-stream", jws_bytes)])


def _parts(response) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a ``multipart/mixed`` response: (headers with lower-case names, content)."""
    boundary = response.headers["Content-Type"].split("boundary=", 1)[1].strip('"').encode()
    found = []
    for chunk in response.data.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        found.append(({k.lower(): v for k, v in headers.items()}, content.removesuffix(b"\r\n")))
    return found


def test_signed_statement_is_verified_and_stored(client, lrs_headers, signer):
    """The statement and its signature are stored: both read back, the JWS byte for byte."""
    headers = lrs_headers["2.0.0"]
    original = statement(id=str(uuid.uuid4()))
    pem, x5c = signer
    jws_bytes = _sign(original, pem, x5c)
    body = dict(original, attachments=[attachment_meta(jws_bytes, "application/octet-stream", SIGNATURE)])
    response = send(client, headers, multipart(body, [("application/octet-stream", jws_bytes)]))
    assert response.status_code == 200, response.json
    assert response.json == [original["id"]]

    plain = client.get(f"/xapi/statements?statementId={original['id']}", headers=headers)
    assert plain.status_code == 200, plain.json
    for name in ("id", "actor", "verb", "object"):
        assert plain.json[name] == original[name]
    assert plain.json["attachments"] == [attachment_meta(jws_bytes, "application/octet-stream", SIGNATURE)]

    one = f"/xapi/statements?statementId={original['id']}"
    with_parts = client.get(one + "&attachments=true", headers=headers)
    assert with_parts.status_code == 200
    (json_headers, json_part), (part_headers, part) = _parts(with_parts)
    assert json_headers["content-type"] == "application/json"
    assert json.loads(json_part) == plain.json
    assert part_headers["x-experience-api-hash"] == hashlib.sha256(jws_bytes).hexdigest()
    assert part == jws_bytes
    listed = client.get(f"/xapi/statements?verb={original['verb']['id']}", headers=headers).json
    assert [s["id"] for s in listed["statements"]] == [original["id"]]


def test_signature_over_other_content_is_refused(client, lrs_headers, signer):
    original = statement(id=str(uuid.uuid4()))
    tampered = dict(original, verb={"id": "http://adlnet.gov/expapi/verbs/failed"})
    response = send(client, lrs_headers["2.0.0"], _signed_request(original, tampered, signer))
    assert response.status_code == 400 and "differs" in response.json["message"]


def test_signature_with_another_algorithm_is_refused(client, lrs_headers, signer):
    original = statement(id=str(uuid.uuid4()))
    response = send(client, lrs_headers["2.0.0"], _signed_request(original, original, signer, alg="PS256"))
    assert response.status_code == 400 and "RS256" in response.json["message"]


def test_signature_that_is_not_a_jws_is_refused(client, lrs_headers):
    junk = b"this is not a JWS"
    body = statement(attachments=[attachment_meta(junk, "application/octet-stream", SIGNATURE)])
    response = send(client, lrs_headers["1.0.3"], multipart(body, [("application/octet-stream", junk)]))
    assert response.status_code == 400 and response.json["error"] == "invalid_signature"
