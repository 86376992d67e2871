"""A real third-party client (ADL's TinCanPython) against the LRS served over real HTTP."""

from __future__ import annotations

import uuid


def test_tincan_client_round_trip(live_lrs):
    from tincan import (
        Activity,
        ActivityDefinition,
        Agent,
        LanguageMap,
        RemoteLRS,
        Result,
        Score,
        Statement,
        Verb,
    )

    endpoint, key, secret = live_lrs
    lrs = RemoteLRS(version="1.0.1", endpoint=endpoint, username=key, password=secret)
    about = lrs.about()
    assert about.success and "1.0.3" in about.content.version

    actor = Agent(name="Olivia Operator", mbox="mailto:olivia@plant.example")
    activity = Activity(
        id="https://lms.plant.example/sop-014",
        definition=ActivityDefinition(name=LanguageMap({"en-US": "SOP-014"})),
    )
    statement = Statement(
        actor=actor,
        verb=Verb(id="http://adlnet.gov/expapi/verbs/passed", display=LanguageMap({"en-US": "passed"})),
        object=activity,
        result=Result(score=Score(scaled=0.9), success=True),
    )
    saved = lrs.save_statement(statement)
    assert saved.success, saved.data
    statement_id = str(saved.content.id)

    got = lrs.retrieve_statement(statement_id)
    assert got.success and str(got.content.id) == statement_id
    assert got.content.result.score.scaled == 0.9

    batch = [
        Statement(
            actor=actor,
            verb=Verb(id="http://adlnet.gov/expapi/verbs/experienced"),
            object=Activity(id=f"https://lms.plant.example/page/{i}"),
        )
        for i in range(3)
    ]
    saved_many = lrs.save_statements(batch)
    assert saved_many.success, saved_many.data

    query = lrs.query_statements({"agent": actor, "limit": 2})
    assert query.success, query.data
    assert len(query.content.statements) == 2 and query.content.more
    more = lrs.more_statements(query.content)
    assert more.success and len(more.content.statements) == 2

    state_id = f"bookmark-{uuid.uuid4()}"
    from tincan import StateDocument

    doc = StateDocument(activity=activity, agent=actor, id=state_id, content=bytearray(b"page=7"))
    assert lrs.save_state(doc).success
    fetched = lrs.retrieve_state(activity=activity, agent=actor, state_id=state_id)
    assert fetched.success and bytes(fetched.content.content) == b"page=7"
