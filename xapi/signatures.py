"""Signed statements (Data 2.6): the JWS of a signature attachment, checked against the statement.

``jwcrypto`` and ``cryptography`` weigh about 10 MB a process: this module is imported only when
a request carries a signature attachment (``xapi.statements``), not with the record store.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography import x509
from jwcrypto import jwk, jws
from jwcrypto.common import JWException

from bridge.core.errors import ValidationFailed
from xapi.comparison import same_statement


def verify_signature(statement: dict[str, Any], jws_bytes: bytes, index: int) -> None:
    """Check a signed statement's JWS as the spec asks (Data 2.6).

    The JWS must parse, use RS256/RS384/RS512, verify against its ``x5c`` certificate when one is
    given, and carry the statement itself (before the signature was attached) as payload.

    Raises:
        ValidationFailed: Any of these fails.
    """
    where = f"statements[{index}].attachments"
    try:
        token = jws.JWS()
        token.deserialize(jws_bytes.decode("ascii").strip())
        header = token.jose_header
    except (JWException, ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            f"{where}: the signature attachment is not a JWS ({exc})", field=where, code="invalid_signature"
        ) from exc
    alg = header.get("alg")
    if alg not in ("RS256", "RS384", "RS512"):
        raise ValidationFailed(
            f"{where}: JWS algorithm {alg!r} is not allowed; use RS256, RS384 or RS512",
            field=where,
            code="invalid_signature",
        )
    if header.get("x5c"):
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
            key = jwk.JWK.from_pyca(cert.public_key())
            token.verify(key, alg=alg)
        except Exception as exc:  # any failure to verify is a refusal
            raise ValidationFailed(
                f"{where}: the JWS does not verify with its x5c certificate",
                field=where,
                code="invalid_signature",
            ) from exc
    try:
        payload_b64 = jws_bytes.decode("ascii").strip().split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    except (ValueError, IndexError) as exc:
        raise ValidationFailed(
            f"{where}: the JWS payload is not JSON", field=where, code="invalid_signature"
        ) from exc
    if not isinstance(payload, dict):
        raise ValidationFailed(
            f"{where}: the JWS payload is not a statement", field=where, code="invalid_signature"
        )
    signed = {k: v for k, v in payload.items() if k != "attachments"}
    sent = {k: v for k, v in statement.items() if k != "attachments"}
    try:
        matches = (
            same_statement(signed, sent)
            if "id" not in signed or signed.get("id") == sent.get("id")
            else False
        )
    except Exception:
        matches = False
    if not matches:
        raise ValidationFailed(
            f"{where}: the JWS payload differs from the statement it signs",
            field=where,
            code="invalid_signature",
        )
