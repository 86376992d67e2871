"""The REST API never answers 5xx: ids beyond 64 bits anywhere give 404/400, a wrong method
gives 405 with ``Allow``, and schemathesis fuzzes every operation of /api/v1/openapi.json with a
few generated requests each (no 5xx)."""

from __future__ import annotations

import re

import pytest

HUGE = 2**63
HUGE_VALUES = (HUGE, 2**70, -(2**70), 10**30)


@pytest.fixture
def admin(make_user, api_token):
    make_user("fuzz.admin", "administrator")
    return api_token("fuzz.admin")


def _spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def test_huge_ids_in_paths_are_not_found(client, admin):
    spec = _spec(client)
    checked = 0
    for template, operations in spec["paths"].items():
        if "{" not in template:
            continue
        for method in operations:
            for huge in (HUGE, 2**80):
                path = re.sub(r"{\w+}", str(huge), template)
                kwargs = {"json": {}} if method in ("post", "put", "patch") else {}
                response = client.open(path, method=method.upper(), headers=admin, **kwargs)
                # 405: the path matches another route's string parameter, for other methods.
                assert response.status_code in (404, 405), (method, path, response.status_code)
                checked += 1
    assert checked > 30
    # The description says so: an id is a 64-bit integer.
    some = next(p for ops in spec["paths"].values() for o in ops.values()
                for p in o.get("parameters", []) if p["in"] == "path")
    assert some["schema"]["maximum"] == HUGE - 1


def test_huge_integers_in_query_strings_are_refused(client, admin):
    spec = _spec(client)
    checked = 0
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method != "get" or "{" in template:
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
                if parameter["in"] != "query" or "integer" not in types:
                    continue
                for huge in HUGE_VALUES:
                    response = client.get(template, query_string={parameter["name"]: str(huge)},
                                          headers=admin)
                    assert response.status_code == 400, (template, parameter["name"], huge,
                                                         response.get_data(as_text=True)[:300])
                    checked += 1
    assert checked >= 4


@pytest.mark.parametrize("huge", HUGE_VALUES)
def test_huge_integers_in_bodies_are_refused(client, admin, huge):
    bodies = [
        ("/api/v1/people/hire", {"display_name": "Ann", "department_id": huge, "job_function_ids": [1]}),
        ("/api/v1/people/hire", {"display_name": "Ann", "department_id": 1, "job_function_ids": [huge]}),
        ("/api/v1/people/hire", {"person_id": huge, "department_id": 1, "job_function_ids": [1]}),
    ]
    for path, body in bodies:
        response = client.post(path, json=body, headers=admin)
        assert response.status_code == 400, (path, body, response.get_data(as_text=True)[:300])
        assert response.get_json()["error"] == "invalid_body"


def test_a_wrong_method_answers_405_with_allow(client, admin):
    for path, method, allowed in (("/api/v1/me", "POST", {"GET"}),
                                  ("/api/v1/openapi.json", "DELETE", {"GET"})):
        response = client.open(path, method=method, headers=admin)
        assert response.status_code == 405
        assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


# Operations whose views (in qms/, not the registry) still answer 5xx to valid input; each names
# its bug. None known at the time of writing.
EXCLUDED: dict[str, str] = {}
# Bounded by examples, not by time: a time budget fuzzed one operation on a busy machine.
EXAMPLES_PER_OPERATION = 4


def _fuzz(operation, headers: dict[str, str], failures: list[str]) -> None:
    """Call ``operation`` with generated valid requests; note every 5xx."""
    from hypothesis import HealthCheck, Phase, given, settings

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
              database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate])
    def check(case):
        case.headers = {**(case.headers or {}), **headers}
        response = case.call()
        if response.status_code >= 500:
            failures.append(f"{operation.label} -> {response.status_code}: path "
                            f"{case.path_parameters} query {case.query} body {case.body!r:.300}")

    check()


def test_schemathesis_finds_no_server_error(app, admin):
    schemathesis = pytest.importorskip("schemathesis")

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in EXCLUDED:
            continue
        operations += 1
        _fuzz(operation, admin, failures)
    assert not failures, "\n".join(failures)
    assert operations > 50


def test_an_overflow_inside_a_view_is_a_400_not_a_500(app):
    def overflowing():
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    app.add_url_rule("/api/v1/test-overflow", view_func=overflowing)
    response = app.test_client().get("/api/v1/test-overflow")
    assert response.status_code == 400 and response.get_json()["error"] == "out_of_range"
