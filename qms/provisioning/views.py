"""``/scim/v2``: the SCIM 2.0 service provider (RFC 7644) for identity providers and HR systems.

The route table only: the endpoints (``qms.provisioning.endpoints``) and the SCIM model library
they stand on (scim2-models with lark and email-validator: about 14 MB a process and 0.8 s to
import) load with the first SCIM request, so a server process that never sees one (the record
store's, the console's) does not carry them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response

PREFIX = "/scim/v2"
bp = Blueprint("scim", __name__, url_prefix=PREFIX)

READ_ONLY = ["GET", "POST", "PUT", "PATCH", "DELETE"]  # discovery answers 405 itself, the SCIM way

ROUTES: list[tuple[str, str, list[str]]] = [
    ("/ServiceProviderConfig", "service_provider_config", READ_ONLY),
    ("/ResourceTypes", "resource_types", READ_ONLY),
    ("/ResourceTypes/<name>", "resource_type", READ_ONLY),
    ("/Schemas", "schemas", READ_ONLY),
    ("/Schemas/<path:schema_id>", "schema", READ_ONLY),
    ("/Users", "list_users", ["GET"]),
    ("/Users/.search", "list_users", ["POST"]),
    ("/Users", "create_user", ["POST"]),
    ("/Users/<scim_id>", "get_user", ["GET"]),
    ("/Users/<scim_id>", "replace_user", ["PUT"]),
    ("/Users/<scim_id>", "patch_user", ["PATCH"]),
    ("/Users/<scim_id>", "delete_user", ["DELETE"]),
    ("/Groups", "list_groups", ["GET"]),
    ("/Groups/.search", "list_groups", ["POST"]),
    ("/Groups", "create_group", ["POST"]),
    ("/Groups/<scim_id>", "get_group", ["GET"]),
    ("/Groups/<scim_id>", "replace_group", ["PUT"]),
    ("/Groups/<scim_id>", "patch_group", ["PATCH"]),
    ("/Groups/<scim_id>", "delete_group", ["DELETE"]),
    ("/Bulk", "bulk", ["POST"]),
    ("/.search", "search_all", ["POST"]),
    ("/<path:anything>", "unknown", ["GET", "POST", "PUT", "PATCH", "DELETE"]),
]


def _endpoint(name: str) -> Callable[..., Response]:
    """The view for endpoint ``name``: the endpoints module's function, imported when first called."""

    def view(**kwargs: Any) -> Response:
        endpoints = importlib.import_module("qms.provisioning.endpoints")
        return getattr(endpoints, name)(**kwargs)  # type: ignore[no-any-return]

    view.__name__ = view.__qualname__ = name
    return view


_views = {name: _endpoint(name) for _path, name, _methods in ROUTES}
for _path, _name, _methods in ROUTES:
    bp.add_url_rule(_path, _name, _views[_name], methods=_methods)
