"""An LMS registration whose deliveries fail for real: its access-token URL is a port of
127.0.0.1 nobody listens on, so the worker's relay is refused when it asks for a token to post a
score (AGS) or read a roster (NRPS). One course with a roster, one launch, one score queued.
"""

from __future__ import annotations

import datetime as dt
import socket
import types

import pytest
from sqlalchemy import select

from bridge.core import outbox
from lti import keys, services
from lti.models import LtiContext, LtiContextMember, LtiLaunch, LtiResourceLink


def refusing_port() -> int:
    """A local port with nothing listening (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def failed_delivery(app, db, uow_factory, make_user, clock):
    """The plant above after one pass of the relay: the score and the roster sync have failed."""
    port = refusing_port()
    lms = f"http://127.0.0.1:{port}"
    learner = make_user("stu.dent", "learner", name="Stu Dent")
    gone = make_user("old.member", "learner", name="Olga Member")
    with uow_factory() as uow:
        keys.create_key(uow)
        platform = services.add_platform(
            uow, issuer="https://moodle.refusing.example", client_id="client-1",
            deployment_ids=["dep-1", "dep-2"], auth_login_url=f"{lms}/auth",
            auth_token_url=f"{lms}/token", keyset_url=f"{lms}/certs", name="Refusing Moodle")
        now = uow.clock.now()
        context = LtiContext(platform_id=platform.id, context_id="C-17", title="GMP basics",
                             label="GMP101", deployment_id="dep-1",
                             memberships_url=f"{lms}/members", roster_synced_at=now)
        uow.session.add(context)
        uow.session.flush()
        uow.session.add_all([
            LtiContextMember(context_pk=context.id, person_id=learner.person_id, subject="3",
                             lti_roles=[], status="Active", source="nrps"),
            LtiContextMember(context_pk=context.id, person_id=gone.person_id, subject="9",
                             lti_roles=[], status="Deleted", source="nrps"),
            LtiResourceLink(platform_id=platform.id, deployment_id="dep-1", context_pk=context.id,
                            resource_link_id="rl-1", title="SOP-014", training_item_id=1,
                            lineitem_url=f"{lms}/lineitems/1", ags_scopes=[services.SCORE_SCOPE]),
            LtiLaunch(handle_hash="0" * 64, platform_id=platform.id, deployment_id="dep-1",
                      message_type="LtiResourceLinkRequest", subject="3",
                      person_id=learner.person_id, user_id=learner.user_id, lti_roles=[],
                      context_id="C-17", claims={}, created_at=now - dt.timedelta(hours=2),
                      expires_at=now),
        ])
        completion = types.SimpleNamespace(training_item_id=1, person_id=learner.person_id,
                                           score_scaled=0.9, completed_at=now, completion_id=77)
        assert services.enqueue_scores(uow, completion) == 1
        outbox.enqueue(uow, services.NRPS_TOPIC, {"context_pk": context.id})
        uow.commit()
        platform_id, context_pk = platform.id, context.id
    assert outbox.relay_once(db) == (0, 2)  # both refused by the platform's token URL
    with db.read_sessions() as session:
        messages = {m.topic: m for m in session.scalars(select(outbox.OutboxMessage))}
    ags = messages[services.AGS_TOPIC]
    assert ags.status == "pending" and ags.last_error and ags.attempts == 1
    return types.SimpleNamespace(platform_id=platform_id, context_pk=context_pk, ags_id=ags.id,
                                 nrps_id=messages[services.NRPS_TOPIC].id, learner=learner)
