"""SCIM Bulk (RFC 7644 §3.7): many operations in one request and one transaction, for the first
load of a site. Each operation runs in a savepoint (a refused one is reported and undone alone,
up to ``failOnErrors``); ``bulkId:`` references name resources created earlier in the request.

A run of ``POST /Users`` operations that are plain new hires is made together
(``qms.provisioning.bulk_users``: the same rows, audit rows and events in a few flushes).

Obligations are re-evaluated once, before the request's commit, for every person the operations
hired or moved between groups (``qms.training.compliance.sync_people``): the same transaction as
the changes, without paying the re-evaluation once per operation.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bridge.core.errors import DomainError
from bridge.core.uow import UnitOfWork
from qms.provisioning import bulk_users, groups, resources, services
from qms.provisioning.models import ProvisioningClient
from qms.provisioning.resources import ScimRefusal

logger = logging.getLogger(__name__)

REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
MAX_OPERATIONS = 1000
MAX_PAYLOAD = 16 * 1024 * 1024
_PATH = re.compile(r"^/(Users|Groups)(?:/([^/]+))?$")


def _resolve(value: Any, created: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("bulkId:"):
        key = value[len("bulkId:") :]
        if key not in created:
            raise ScimRefusal(
                f"bulkId {key!r} names no resource created earlier in this request", scim_type="invalidValue"
            )
        return created[key]
    if isinstance(value, list):
        return [_resolve(v, created) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, created) for k, v in value.items()}
    return value


def _run(
    uow: UnitOfWork,
    client: ProvisioningClient | None,
    operation: dict[str, Any],
    created: dict[str, str],
    base: str,
) -> dict[str, Any]:
    method = str(operation.get("method", "")).upper()
    path = re.sub(r"bulkId:([^/]+)", lambda m: _resolve(m.group(0), created), str(operation.get("path", "")))
    match = _PATH.match(path)
    if match is None or method not in ("POST", "PUT", "PATCH", "DELETE"):
        raise ScimRefusal(f"unsupported bulk operation {method} {path}", scim_type="invalidSyntax")
    kind, scim_id = match.groups()
    if (method == "POST") != (scim_id is None):
        raise ScimRefusal(
            f"{method} {path}: POST goes to the collection, the others to one resource",
            scim_type="invalidPath",
        )
    data = _resolve(operation.get("data"), created)
    version = operation.get("version")
    if kind == "Users":
        if method == "POST":
            row = services.create_user(uow, client, data)
        elif method == "PUT":
            row = services.replace_user(uow, client, scim_id, data, if_match=version)
        elif method == "PATCH":
            row = services.patch_user(uow, client, scim_id, data, if_match=version)
        else:
            services.delete_user(uow, client, scim_id, if_match=version)
            return {"status": "204", "location": f"{base}/Users/{scim_id}"}
    elif method == "POST":
        row = groups.create_group(uow, client, data)
    elif method == "PUT":
        row = groups.replace_group(uow, scim_id, data, if_match=version)
    elif method == "PATCH":
        row = groups.patch_group(uow, scim_id, data, if_match=version)
    else:
        groups.delete_group(uow, scim_id, if_match=version)
        return {"status": "204", "location": f"{base}/Groups/{scim_id}"}
    if method == "POST" and operation.get("bulkId"):
        created[str(operation["bulkId"])] = row.scim_id
    return {
        "status": "201" if method == "POST" else "200",
        "location": f"{base}/{kind}/{row.scim_id}",
        "version": f'W/"{row.version}"',
    }


def run_bulk(uow: UnitOfWork, client: ProvisioningClient | None, payload: Any, base: str) -> dict[str, Any]:
    """POST /Bulk: every operation in order; the response lists each one's status."""
    if not isinstance(payload, dict) or REQUEST_SCHEMA not in (payload.get("schemas") or []):
        raise ScimRefusal(f"a bulk request names the schema {REQUEST_SCHEMA}", scim_type="invalidSyntax")
    operations = payload.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise ScimRefusal("a bulk request needs a list of Operations", scim_type="invalidSyntax")
    if len(operations) > MAX_OPERATIONS:
        raise ScimRefusal(
            f"at most {MAX_OPERATIONS} operations per bulk request", status=413, scim_type="tooMany"
        )
    fail_on_errors = payload.get("failOnErrors")
    deferred = services.defer_obligations(uow)
    for operation in operations:
        if not isinstance(operation, dict):
            raise ScimRefusal("each bulk operation is an object", scim_type="invalidSyntax")
    created: dict[str, str] = {}
    results: list[dict[str, Any]] = []
    errors = 0
    departments: dict[str, int] = {}
    index = 0
    while index < len(operations):
        if fail_on_errors and errors >= int(fail_on_errors):
            break
        end = index
        while not fail_on_errors and end < len(operations) and bulk_users.is_user_creation(operations[end]):
            end += 1
        if end - index < 2:
            answer, failed = _one(uow, client, operations[index], created, base, deferred)
            results.append(answer)
            errors += failed
            index += 1
            continue
        # A run of user creations: the plain ones made together, the others one by one, in order.
        plain = bulk_users.plain_users(uow, [(i, operations[i]) for i in range(index, end)])
        while index < end:
            stop = index
            while stop < end and stop in plain:
                stop += 1
            stop = max(stop, index + 1)  # an operation that is not plain goes alone
            segment = [plain[i] for i in range(index, stop) if i in plain]
            together = _together(uow, client, segment, departments, base)
            if together:
                for answer in together:
                    if "bulkId" in answer:
                        created[str(answer["bulkId"])] = answer["location"].rsplit("/", 1)[1]
                results.extend(together)
            else:  # not plain, or the plain ones could not be made together: one by one
                for i in range(index, stop):
                    answer, failed = _one(uow, client, operations[i], created, base, deferred)
                    results.append(answer)
                    errors += failed
            index = stop
    services.apply_deferred_obligations(uow)
    logger.info("SCIM bulk: %s operations, %s refused", len(results), errors)
    return {"schemas": [RESPONSE_SCHEMA], "Operations": results}


def _one(
    uow: UnitOfWork,
    client: ProvisioningClient | None,
    operation: dict[str, Any],
    created: dict[str, str],
    base: str,
    deferred: dict[str, set[int]],
) -> tuple[dict[str, Any], bool]:
    """One operation in its own savepoint: its answer, and whether it was refused."""
    answer: dict[str, Any] = {"method": str(operation.get("method", "")).upper()}
    if operation.get("bulkId"):
        answer["bulkId"] = operation["bulkId"]
    before = {k: set(v) for k, v in deferred.items()}
    try:
        with uow.savepoint():
            answer.update(_run(uow, client, operation, created, base))
    except (DomainError, ValueError) as exc:
        for key, values in before.items():
            deferred[key] = values
        body, status = resources.error_body(exc)
        answer.update({"status": str(status), "response": body})
        return answer, True
    return answer, False


def _together(
    uow: UnitOfWork,
    client: ProvisioningClient | None,
    plain: list[bulk_users.Plain],
    departments: dict[str, int],
    base: str,
) -> list[dict[str, Any]]:
    """Make plain user creations together (one savepoint).

    Empty when there are none, or when it failed: everything it did is undone and the caller
    makes them one by one.
    """
    if not plain:
        return []
    deferred = services.defer_obligations(uow)
    before = {k: set(v) for k, v in deferred.items()}
    try:
        with uow.savepoint():
            rows = bulk_users.create_users(uow, client, plain, departments)
    except (DomainError, ValueError, SQLAlchemyError):
        logger.exception("SCIM bulk: %s users could not be made together; one by one", len(plain))
        for key, values in before.items():
            deferred[key] = values
        departments.clear()  # departments made in the undone savepoint are gone
        return []
    answers = []
    for p, row in zip(plain, rows, strict=True):
        answer: dict[str, Any] = {"method": "POST"}
        if p.operation.get("bulkId"):
            answer["bulkId"] = p.operation["bulkId"]
        answer.update(
            {"status": "201", "location": f"{base}/Users/{row.scim_id}", "version": f'W/"{row.version}"'}
        )
        answers.append(answer)
    return answers
