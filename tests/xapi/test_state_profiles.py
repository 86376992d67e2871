"""xAPI document resources (State, Activity Profile, Agent Profile) on 1.0.3 and 2.0.0."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from urllib.parse import urlencode

import pytest
from werkzeug.http import http_date

from tests.xapi.conftest import basic

STATE = "/xapi/activities/state"
ACT_PROFILE = "/xapi/activities/profile"
AGENT_PROFILE = "/xapi/agents/profile"
ACTIVITY = "http://example.com/activities/sop-014"
AGENT = {"objectType": "Agent", "mbox": "mailto:operator1@example.com"}
REG = "6b3ad3b4-1f6a-4c57-9a59-3e5a7c1f0a11"
VERSIONS = ("1.0.3", "2.0.0")


def url(path: str, **params) -> str:
    query = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    return f"{path}?{urlencode(query)}"


def state_url(state_id: str | None = "bookmark", agent=AGENT, **extra) -> str:
    params = {"activityId": ACTIVITY, "agent": agent, **extra}
    if state_id is not None:
        params["stateId"] = state_id
    return url(STATE, **params)


def with_headers(headers: dict, **extra) -> dict:
    return {**headers, **{k.replace("_", "-"): v for k, v in extra.items()}}


def put_json(client, target: str, headers: dict, document, **extra):
    return client.put(target, data=json.dumps(document), content_type="application/json",
                      headers=with_headers(headers, **extra))


def post_json(client, target: str, headers: dict, document, **extra):
    return client.post(target, data=json.dumps(document), content_type="application/json",
                       headers=with_headers(headers, **extra))


@pytest.mark.parametrize("version", VERSIONS)
def test_put_get_head_round_trip_with_etag_and_last_modified(client, lrs_headers, clock, version):
    headers = lrs_headers[version]
    clock.freeze(dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC))  # Last-Modified is the app clock's
    body = b'{"page": 3,  "done": false}'
    response = client.put(state_url(), data=body, content_type="application/json", headers=headers)
    assert response.status_code == 204, response.json
    expected_etag = f'"{hashlib.sha1(body).hexdigest()}"'
    assert response.headers["ETag"] == expected_etag

    got = client.get(state_url(), headers=headers)
    assert got.status_code == 200
    assert got.data == body  # stored byte for byte
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["ETag"] == expected_etag
    assert got.headers["X-Experience-API-Version"] == version
    assert got.headers["Last-Modified"] == http_date(clock.now().replace(microsecond=0))

    head = client.head(state_url(), headers=headers)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == expected_etag

    missing = client.get(state_url("nothing-here"), headers=headers)
    assert missing.status_code == 404 and "nothing-here" in missing.json["message"]


@pytest.mark.parametrize("version", VERSIONS)
def test_binary_and_non_json_documents_are_stored_as_given(client, lrs_headers, version):
    headers = lrs_headers[version]
    blob = bytes(range(256)) * 4
    target = url(ACT_PROFILE, activityId=ACTIVITY, profileId="thumbnail")
    response = client.put(target, data=blob, content_type="image/png",
                          headers=with_headers(headers, If_None_Match="*"))
    assert response.status_code == 204
    got = client.get(target, headers=headers)
    assert got.data == blob and got.headers["Content-Type"] == "image/png"
    assert got.headers["ETag"] == f'"{hashlib.sha1(blob).hexdigest()}"'

    text_target = url(AGENT_PROFILE, agent=AGENT, profileId="notes")
    text = "Prüfung bestanden – «ok»".encode()
    response = client.put(text_target, data=text, content_type="text/plain; charset=utf-8",
                          headers=with_headers(headers, If_None_Match="*"))
    assert response.status_code == 204
    got = client.get(text_target, headers=headers)
    assert got.data == text and got.headers["Content-Type"] == "text/plain; charset=utf-8"

    no_type = client.put(state_url("raw"), data=b"\x00\x01", headers=headers)
    assert no_type.status_code == 204
    assert client.get(state_url("raw"), headers=headers).headers["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize("version", VERSIONS)
def test_post_merges_top_level_properties_of_json_objects(client, lrs_headers, version):
    headers = lrs_headers[version]
    created = post_json(client, state_url(), headers, {"x": "foo", "y": "bar", "nested": {"a": 1, "b": 2}})
    assert created.status_code == 204  # POST on a missing document stores it
    merged = post_json(client, state_url(), headers, {"x": "bash", "z": "faz", "nested": {"c": 3}})
    assert merged.status_code == 204
    got = client.get(state_url(), headers=headers)
    assert got.json == {"x": "bash", "y": "bar", "z": "faz", "nested": {"c": 3}}
    assert got.headers["ETag"] == f'"{hashlib.sha1(got.data).hexdigest()}"'
    assert merged.headers["ETag"] == got.headers["ETag"]

    # A non-JSON POST to a missing document is stored as given (treated as a PUT).
    raw = client.post(state_url("plain"), data=b"suspend-data", content_type="text/plain", headers=headers)
    assert raw.status_code == 204
    assert client.get(state_url("plain"), headers=headers).data == b"suspend-data"


@pytest.mark.parametrize("version", VERSIONS)
def test_post_refusals_leave_the_document_unchanged(client, lrs_headers, version):
    headers = lrs_headers[version]
    post_json(client, state_url(), headers, {"car": "MKX"})
    before = client.get(state_url(), headers=headers).data

    not_json = client.post(state_url(), data="abcdefg", content_type="not/json", headers=headers)
    assert not_json.status_code == 400 and not_json.json["error"] == "merge_needs_json"
    form = client.post(state_url(), data="abc", content_type="application/x-www-form-urlencoded",
                       headers=headers)
    assert form.status_code == 400
    broken = client.post(state_url(), data='{"car": "MKZ"}{', content_type="application/json",
                         headers=headers)
    assert broken.status_code == 400 and broken.json["error"] == "malformed_json"
    array = client.post(state_url(), data="[1, 2]", content_type="application/json", headers=headers)
    assert array.status_code == 400 and "JSON Object" in array.json["message"]
    assert client.get(state_url(), headers=headers).data == before

    client.put(state_url("binary"), data=b"/ asdf / undefined", content_type="application/octet-stream",
               headers=headers)
    onto_binary = post_json(client, state_url("binary"), headers, {"car": "MKZ"})
    assert onto_binary.status_code == 400 and "application/octet-stream" in onto_binary.json["message"]
    assert client.get(state_url("binary"), headers=headers).data == b"/ asdf / undefined"

    bad_put = client.put(state_url("fresh"), data="{nope", content_type="application/json", headers=headers)
    assert bad_put.status_code == 400 and bad_put.json["error"] == "malformed_json"
    assert client.get(state_url("fresh"), headers=headers).status_code == 404


@pytest.mark.parametrize("version", VERSIONS)
def test_ids_list_and_since(client, lrs_headers, clock, version):
    headers = lrs_headers[version]
    put_json(client, state_url("first"), headers, {"n": 1})
    between = clock.now()
    clock.advance(seconds=1)
    put_json(client, state_url("second"), headers, {"n": 2})
    other_agent = {"mbox": "mailto:someone.else@example.com"}
    put_json(client, state_url("foreign", agent=other_agent), headers, {"n": 3})

    listed = client.get(state_url(None), headers=headers)
    assert listed.status_code == 200 and listed.headers["Content-Type"] == "application/json"
    assert listed.json == ["first", "second"]
    assert listed.headers["ETag"].startswith('"') and "Last-Modified" in listed.headers

    since_z = between.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert client.get(state_url(None, since=since_z), headers=headers).json == ["second"]
    since_offset = between.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    assert client.get(state_url(None, since=since_offset), headers=headers).json == ["second"]
    future = (clock.now() + dt.timedelta(minutes=5)).isoformat()
    empty = client.get(state_url(None, since=future), headers=headers)
    assert empty.json == [] and "Last-Modified" not in empty.headers

    bad = client.get(state_url(None, since="not a timestamp"), headers=headers)
    assert bad.status_code == 400 and bad.json["field"] == "since"

    # Profiles list the same way.
    for name in ("a", "b"):
        target = url(ACT_PROFILE, activityId=ACTIVITY, profileId=name)
        client.put(target, data=b"{}", content_type="application/json",
                   headers=with_headers(headers, If_None_Match="*"))
    assert client.get(url(ACT_PROFILE, activityId=ACTIVITY), headers=headers).json == ["a", "b"]
    assert client.get(url(AGENT_PROFILE, agent=AGENT), headers=headers).json == []


@pytest.mark.parametrize("version", VERSIONS)
def test_registration_scopes_state_documents(client, lrs_headers, version):
    headers = lrs_headers[version]
    other = "0d3e4b8a-7c2f-4a1e-8f5b-2c9d6e1a3b4c"
    put_json(client, state_url(), headers, {"reg": None})
    put_json(client, state_url(registration=REG), headers, {"reg": 1})
    put_json(client, state_url(registration=other), headers, {"reg": 2})
    put_json(client, state_url("only-in-reg", registration=REG), headers, {"reg": 1})

    assert client.get(state_url(), headers=headers).json == {"reg": None}
    assert client.get(state_url(registration=REG), headers=headers).json == {"reg": 1}
    # The canonical form of a UUID finds the same document.
    assert client.get(state_url(registration=REG.upper()), headers=headers).json == {"reg": 1}
    assert client.get(state_url(None, registration=REG), headers=headers).json == ["bookmark", "only-in-reg"]
    assert client.get(state_url(None), headers=headers).json == ["bookmark", "only-in-reg"]

    bad = client.get(state_url(registration="not-a-uuid"), headers=headers)
    assert bad.status_code == 400 and bad.json["field"] == "registration"
    # Registration belongs to the State Resource only.
    foreign = client.get(url(ACT_PROFILE, activityId=ACTIVITY, registration=REG), headers=headers)
    assert foreign.status_code == 400 and foreign.json["field"] == "registration"


@pytest.mark.parametrize("version", VERSIONS)
def test_state_multi_delete(client, lrs_headers, version):
    headers = lrs_headers[version]
    other_activity = "http://example.com/activities/other"
    put_json(client, state_url("a"), headers, {})
    put_json(client, state_url("b", registration=REG), headers, {})
    put_json(client, state_url("c"), headers, {})
    put_json(client, url(STATE, activityId=other_activity, agent=AGENT, stateId="keep"), headers, {})

    guarded = client.delete(state_url(None), headers=with_headers(headers, If_Match="*"))
    assert guarded.status_code == 400 and guarded.json["error"] == "precondition_not_applicable"
    assert client.delete(state_url(None, registration=REG), headers=headers).status_code == 204
    assert client.get(state_url(None), headers=headers).json == ["a", "c"]
    assert client.delete(state_url(None), headers=headers).status_code == 204
    assert client.get(state_url(None), headers=headers).json == []
    kept = client.get(url(STATE, activityId=other_activity, agent=AGENT), headers=headers)
    assert kept.json == ["keep"]

    twice = client.delete(state_url("keep") + "&" + urlencode({"activityId": other_activity}),
                          headers=headers)
    assert twice.status_code == 400 and twice.json["error"] == "repeated_parameter"
    assert client.delete(url(STATE, activityId=other_activity, agent=AGENT, stateId="keep"),
                         headers=headers).status_code == 204
    # Deleting what is not there is not an error.
    assert client.delete(state_url("never"), headers=headers).status_code == 204
    # Profiles have no multi-delete: their id is required.
    missing_id = client.delete(url(ACT_PROFILE, activityId=ACTIVITY), headers=headers)
    assert missing_id.status_code == 400 and missing_id.json["field"] == "profileId"


@pytest.mark.parametrize("version", VERSIONS)
def test_same_agent_in_other_shapes_finds_the_same_document(client, lrs_headers, version):
    headers = lrs_headers[version]
    account = {"objectType": "Agent", "name": "Operator One",
               "account": {"homePage": "https://lms.example.com", "name": "op1"}}
    put_json(client, state_url(agent=account), headers, {"who": "op1"})
    reshaped = {"account": {"name": "op1", "homePage": "https://lms.example.com"}}
    assert client.get(state_url(agent=reshaped), headers=headers).json == {"who": "op1"}
    other_name = {"account": {"name": "op2", "homePage": "https://lms.example.com"}}
    assert client.get(state_url(agent=other_name), headers=headers).status_code == 404

    put_json(client, state_url("mail"), headers, {"who": "operator1"})
    upper_domain = {"mbox": "mailto:operator1@EXAMPLE.com", "name": "Operator"}
    assert client.get(state_url("mail", agent=upper_domain), headers=headers).json == {"who": "operator1"}
    other_local = {"mbox": "mailto:Operator1@example.com"}
    assert client.get(state_url("mail", agent=other_local), headers=headers).status_code == 404

    sha = hashlib.sha1(b"mailto:op1@example.com").hexdigest()
    target = url(AGENT_PROFILE, agent={"mbox_sha1sum": sha.upper()}, profileId="prefs")
    client.put(target, data=b'{"lang":"de"}', content_type="application/json",
               headers=with_headers(headers, If_None_Match="*"))
    lower = url(AGENT_PROFILE, agent={"name": "x", "mbox_sha1sum": sha}, profileId="prefs")
    assert client.get(lower, headers=headers).json == {"lang": "de"}


@pytest.mark.parametrize(("agent", "problem"), [
    ('{"mbox": "mailto:a@example.com"', "not valid JSON"),
    ("true", "JSON Agent Object"),
    ('["mailto:a@example.com"]', "JSON Agent Object"),
    ('{"name": "No IFI"}', "exactly one inverse functional identifier"),
    ('{"mbox": "mailto:a@example.com", "openid": "http://a.example.com"}', "found mbox, openid"),
    ('{"objectType": "Group", "mbox": "mailto:a@example.com"}', "objectType must be 'Agent'"),
    ('{"mbox": "a@example.com"}', "mailto IRI"),
    ('{"mbox": "mailto:not-an-address"}', "not a valid e-mail address"),
    ('{"mbox_sha1sum": "1234"}', "40 hexadecimal"),
    ('{"openid": "no scheme"}', "absolute URI"),
    ('{"account": {"homePage": "http://lms.example.com"}}', "exactly homePage and name"),
    ('{"account": {"homePage": "lms", "name": "op1"}}', "homePage must be an absolute IRL"),
    ('{"mbox": "mailto:a@example.com", "age": 3}', "does not allow: age"),
    ('{"mbox": "mailto:a@example.com", "name": null}', "must not be null"),
])
def test_agent_parameter_is_validated(client, lrs_headers, agent, problem):
    headers = lrs_headers["2.0.0"]
    for method in ("get", "delete", "put"):
        target = f"{STATE}?{urlencode({'activityId': ACTIVITY, 'agent': agent, 'stateId': 's'})}"
        response = getattr(client, method)(target, data=b"{}", content_type="application/json",
                                           headers=headers)
        assert response.status_code == 400, (method, response.json)
        assert problem in response.json["message"], response.json
        assert response.json["field"].startswith("agent")
    profile = client.get(f"{AGENT_PROFILE}?{urlencode({'agent': agent})}", headers=headers)
    assert profile.status_code == 400 and problem in profile.json["message"]


@pytest.mark.parametrize("version", VERSIONS)
def test_parameter_errors_name_the_parameter(client, lrs_headers, version):
    headers = lrs_headers[version]
    cases = [
        ("put", url(STATE, agent=AGENT, stateId="s"), "activityId"),
        ("post", url(STATE, activityId=ACTIVITY, stateId="s"), "agent"),
        ("put", url(STATE, activityId=ACTIVITY, agent=AGENT), "stateId"),
        ("get", url(STATE, activityId=ACTIVITY), "agent"),
        ("delete", url(STATE, agent=AGENT), "activityId"),
        ("get", url(ACT_PROFILE, profileId="p"), "activityId"),
        ("post", url(ACT_PROFILE, activityId=ACTIVITY), "profileId"),
        ("get", url(AGENT_PROFILE, profileId="p"), "agent"),
        ("put", url(AGENT_PROFILE, agent=AGENT), "profileId"),
        ("get", url(STATE, activityId=ACTIVITY, agent=AGENT, stateId="s", color="red"), "color"),
        ("get", url(STATE, activityId=ACTIVITY, agent=AGENT, StateId="s"), "StateId"),
        ("get", url(STATE, activityId="not an iri", agent=AGENT), "activityId"),
        ("get", url(STATE, activityId=ACTIVITY, agent=AGENT, stateId=""), "stateId"),
        ("delete", url(STATE, activityId=ACTIVITY, agent=AGENT, since="2026-01-01T00:00:00Z"), "since"),
        ("put", url(ACT_PROFILE, activityId=ACTIVITY, profileId="p", since="2026-01-01T00:00:00Z"), "since"),
    ]
    for method, target, field in cases:
        response = getattr(client, method)(target, data=b"{}", content_type="application/json",
                                           headers=with_headers(headers, If_None_Match="*"))
        assert response.status_code == 400, (method, target, response.json)
        assert response.json["field"] == field, (target, response.json)
        assert field in response.json["message"]
    wrong_case = client.get(url(STATE, activityid=ACTIVITY, agent=AGENT), headers=headers)
    assert "must be spelled 'activityId'" in wrong_case.json["message"]

    # since with a stateId: not allowed in 2.0; 1.0.3 ignores since on a single-document GET.
    put_json(client, state_url(), headers, {"a": 1})
    combined = client.get(state_url(since="2026-01-01T00:00:00Z"), headers=headers)
    if version == "2.0.0":
        assert combined.status_code == 400 and combined.json["field"] == "since"
    else:
        assert combined.status_code == 200 and combined.json == {"a": 1}


def test_v1_state_put_without_preconditions_overwrites(client, lrs_headers):
    headers = lrs_headers["1.0.3"]
    assert put_json(client, state_url(), headers, {"suspend": "a"}).status_code == 204
    assert put_json(client, state_url(), headers, {"suspend": "b"}).status_code == 204
    assert put_json(client, state_url(), headers, {"suspend": "c"}).status_code == 204
    assert client.get(state_url(), headers=headers).json == {"suspend": "c"}
    # Preconditions sent by a 1.0.x client are still honoured.
    stale = put_json(client, state_url(), headers, {"suspend": "d"}, If_Match='"' + "0" * 40 + '"')
    assert stale.status_code == 412
    assert client.get(state_url(), headers=headers).json == {"suspend": "c"}


def test_v2_state_put_without_preconditions_on_existing_is_409(client, lrs_headers):
    headers = lrs_headers["2.0.0"]
    assert put_json(client, state_url(), headers, {"suspend": "a"}).status_code == 204  # new: allowed
    conflict = put_json(client, state_url(), headers, {"suspend": "b"})
    assert conflict.status_code == 409
    assert "If-Match" in conflict.json["message"] and "GET the document" in conflict.json["message"]
    assert client.get(state_url(), headers=headers).json == {"suspend": "a"}
    etag = client.get(state_url(), headers=headers).headers["ETag"]
    assert put_json(client, state_url(), headers, {"suspend": "b"}, If_Match=etag).status_code == 204
    assert client.get(state_url(), headers=headers).json == {"suspend": "b"}
    # POST and DELETE need no precondition.
    assert post_json(client, state_url(), headers, {"more": 1}).status_code == 204
    assert client.delete(state_url(), headers=headers).status_code == 204


@pytest.mark.parametrize("path", [ACT_PROFILE, AGENT_PROFILE])
def test_profile_put_rules_per_version(client, lrs_headers, path):
    def target(name: str) -> str:
        return url(path, activityId=ACTIVITY, profileId=name) if path == ACT_PROFILE \
            else url(path, agent=AGENT, profileId=name)

    v1, v2 = lrs_headers["1.0.3"], lrs_headers["2.0.0"]
    # 1.0.3: a client MUST send If-Match or If-None-Match with a profile PUT.
    refused = put_json(client, target("p1"), v1, {"a": 1})
    assert refused.status_code == 400 and refused.json["error"] == "precondition_missing"
    assert client.get(target("p1"), headers=v1).status_code == 404
    assert put_json(client, target("p1"), v1, {"a": 1}, If_None_Match="*").status_code == 204
    again = put_json(client, target("p1"), v1, {"a": 2}, If_None_Match="*")
    assert again.status_code == 412
    assert put_json(client, target("p1"), v1, {"a": 2}).status_code == 409
    etag = client.get(target("p1"), headers=v1).headers["ETag"]
    assert put_json(client, target("p1"), v1, {"a": 2}, If_Match='"' + "1" * 40 + '"').status_code == 412
    assert client.get(target("p1"), headers=v1).json == {"a": 1}
    assert put_json(client, target("p1"), v1, {"a": 2}, If_Match=etag).status_code == 204
    assert put_json(client, target("p1"), v1, {"a": 3}, If_Match="*").status_code == 204
    assert client.get(target("p1"), headers=v1).json == {"a": 3}

    # 2.0.0: creating without headers is allowed; replacing without them is a conflict.
    assert put_json(client, target("p2"), v2, {"b": 1}).status_code == 204
    conflict = put_json(client, target("p2"), v2, {"b": 2})
    assert conflict.status_code == 409 and client.get(target("p2"), headers=v2).json == {"b": 1}
    assert put_json(client, target("p2"), v2, {"b": 2}, If_Match='"1234"').status_code == 412
    etag = client.get(target("p2"), headers=v2).headers["ETag"]
    assert put_json(client, target("p2"), v2, {"b": 2}, If_Match=etag).status_code == 204
    # If-Match on a document that does not exist fails.
    assert put_json(client, target("p3"), v2, {"c": 1}, If_Match=etag).status_code == 412
    assert client.get(target("p3"), headers=v2).status_code == 404


@pytest.mark.parametrize("version", VERSIONS)
def test_post_and_delete_honour_preconditions(client, lrs_headers, version):
    headers = lrs_headers[version]
    target = url(ACT_PROFILE, activityId=ACTIVITY, profileId="settings")
    post_json(client, target, headers, {"name": "original"})
    etag = client.get(target, headers=headers).headers["ETag"]

    stale = post_json(client, target, headers, {"name": "stale"}, If_Match='"1234"')
    assert stale.status_code == 412 and stale.json["field"] == "If-Match"
    exists = post_json(client, target, headers, {"name": "stale"}, If_None_Match="*")
    assert exists.status_code == 412 and exists.json["field"] == "If-None-Match"
    weak = post_json(client, target, headers, {"name": "stale"}, If_Match=f"W/{etag}")
    assert weak.status_code == 412  # If-Match compares strongly
    assert client.get(target, headers=headers).json == {"name": "original"}
    assert post_json(client, target, headers, {"name": "updated"}, If_Match=etag).status_code == 204
    assert client.get(target, headers=headers).json == {"name": "updated"}

    etag = client.get(target, headers=headers).headers["ETag"]
    assert client.delete(target, headers=with_headers(headers, If_Match='"1234"')).status_code == 412
    assert client.get(target, headers=headers).status_code == 200
    assert client.delete(target, headers=with_headers(headers, If_Match=etag)).status_code == 204
    assert client.get(target, headers=headers).status_code == 404
    assert client.delete(target, headers=with_headers(headers, If_Match=etag)).status_code == 412


@pytest.mark.parametrize("version", VERSIONS)
def test_conditional_get_answers_304(client, lrs_headers, version):
    headers = lrs_headers[version]
    put_json(client, state_url(), headers, {"a": 1})
    etag = client.get(state_url(), headers=headers).headers["ETag"]
    cached = client.get(state_url(), headers=with_headers(headers, If_None_Match=etag))
    assert cached.status_code == 304 and cached.data == b"" and cached.headers["ETag"] == etag
    stale = client.get(state_url(), headers=with_headers(headers, If_None_Match='"other"'))
    assert stale.status_code == 200 and stale.json == {"a": 1}


def test_resources_and_kinds_do_not_collide(client, lrs_headers):
    headers = lrs_headers["2.0.0"]
    long_activity = "http://example.com/" + "a" * 5000
    unicode_id = "Lesezeichen-Übung-✓"
    put_json(client, url(STATE, activityId=long_activity, agent=AGENT, stateId=unicode_id), headers, {"s": 1})
    put_json(client, url(ACT_PROFILE, activityId=long_activity, profileId=unicode_id), headers, {"p": 1})
    assert client.get(url(STATE, activityId=long_activity, agent=AGENT, stateId=unicode_id),
                      headers=headers).json == {"s": 1}
    assert client.get(url(ACT_PROFILE, activityId=long_activity, profileId=unicode_id),
                      headers=headers).json == {"p": 1}
    assert client.get(url(ACT_PROFILE, activityId=long_activity), headers=headers).json == [unicode_id]


def test_scopes_and_authentication(client, make_credential):
    def headers(scopes: tuple[str, ...]) -> dict:
        key, secret = make_credential(name="-".join(scopes).replace("/", "."), scopes=scopes)
        return {"Authorization": basic(key, secret), "X-Experience-API-Version": "2.0.0"}

    state_only = headers(("state",))
    profile_only = headers(("profile",))
    read_all = headers(("all/read",))
    statements = headers(("statements/write", "statements/read"))
    profile_target = url(ACT_PROFILE, activityId=ACTIVITY, profileId="p")

    assert put_json(client, state_url(), state_only, {"a": 1}).status_code == 204
    assert client.get(state_url(), headers=state_only).status_code == 200
    denied = client.get(profile_target, headers=state_only)
    assert denied.status_code == 403 and "profile" in denied.json["message"]
    assert put_json(client, profile_target, profile_only, {"p": 1}).status_code == 204
    assert client.get(state_url(), headers=profile_only).status_code == 403
    assert client.get(state_url(), headers=read_all).json == {"a": 1}
    assert client.get(profile_target, headers=read_all).json == {"p": 1}
    assert put_json(client, state_url("x"), read_all, {}).status_code == 403
    assert client.delete(state_url(), headers=read_all).status_code == 403
    assert client.get(state_url(), headers=statements).status_code == 403
    unauthenticated = client.get(state_url(), headers={"X-Experience-API-Version": "2.0.0"})
    assert unauthenticated.status_code == 401 and "WWW-Authenticate" in unauthenticated.headers
    no_version = client.get(state_url(), headers={"Authorization": state_only["Authorization"]})
    assert no_version.status_code == 400


def test_concurrent_writers_lose_no_update(app, client, lrs_headers):
    """Threads racing on one document: creation happens once, merges all land, nothing fails."""
    v1, v2 = lrs_headers["1.0.3"], lrs_headers["2.0.0"]
    workers = 6

    def race(job) -> list[int]:
        statuses: list[int] = []
        barrier = threading.Barrier(workers)

        def run(n: int) -> None:
            local = app.test_client()
            barrier.wait()
            statuses.append(job(local, n).status_code)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sorted(statuses)

    created = race(lambda c, n: put_json(c, state_url("once"), v2, {"n": n}, If_None_Match="*"))
    assert created == [204] + [412] * (workers - 1)

    merged = race(lambda c, n: post_json(c, state_url("merge"), v2, {f"k{n}": n}))
    assert merged == [204] * workers
    assert client.get(state_url("merge"), headers=v2).json == {f"k{n}": n for n in range(workers)}

    overwritten = race(lambda c, n: put_json(c, state_url("legacy"), v1, {"n": n}))
    assert overwritten == [204] * workers
    assert client.get(state_url(None), headers=v1).json.count("legacy") == 1


def test_v1_alternate_request_syntax_reaches_documents(client, lrs_headers):
    """A 1.0.x cross-origin client PUTs and reads State through ``POST ?method=...`` forms."""
    headers = lrs_headers["1.0.3"]
    form = {"activityId": ACTIVITY, "agent": json.dumps(AGENT), "stateId": "bookmark",
            "Authorization": headers["Authorization"], "X-Experience-API-Version": "1.0.3",
            "Content-Type": "application/json", "content": json.dumps({"page": 7})}
    stored = client.post(f"{STATE}?method=PUT", data=urlencode(form),
                         content_type="application/x-www-form-urlencoded")
    assert stored.status_code == 204, stored.data
    del form["content"], form["Content-Type"]
    fetched = client.post(f"{STATE}?method=GET", data=urlencode(form),
                          content_type="application/x-www-form-urlencoded")
    assert fetched.status_code == 200 and fetched.json == {"page": 7}
    assert client.get(state_url(), headers=headers).json == {"page": 7}
