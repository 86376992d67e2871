"""Issue 14 #3: one vocabulary (compliant / due / overdue / not qualified) computed by one rule,
the same on the REST API and on the LTI course-compliance page.
"""

from __future__ import annotations

import datetime as dt

from lti import services as lti_services
from lti.models import LtiContext, LtiContextMember, LtiLaunch, LtiPlatform
from tests.qms.conftest import now

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def _roster(uow_factory, person_ids: list[int]) -> LtiLaunch:
    with uow_factory() as uow:
        session = uow.session
        platform = LtiPlatform(name="LMS", issuer="https://lms.example", client_id="c",
                               auth_login_url="https://lms.example/auth", auth_token_url="https://lms.example/t")
        session.add(platform)
        session.flush()
        context = LtiContext(platform_id=platform.id, context_id="course-1", deployment_id="d1")
        session.add(context)
        session.flush()
        for pid in person_ids:
            session.add(LtiContextMember(context_pk=context.id, person_id=pid, subject=f"s{pid}",
                                         lti_roles=[LEARNER]))
        uow.commit()
        return LtiLaunch(platform_id=platform.id, context_id="course-1", lti_roles=[INSTRUCTOR])


def test_course_page_and_api_say_the_same_word(plant, db, clock, uow_factory):
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    sop = plant.document("SOP-001")
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": op, "training_item_id": sop["training_item_id"]},
               expect=201)
    plant.publish(sop["id"])
    ann, bob = plant.people["ann"], plant.people["bob"]
    plant.hire("Ann", prod, [op], person_id=ann)
    plant.hire("Bob", prod, [op], person_id=bob)
    (bob_assignment,) = plant.get("/me/assignments", "bob")
    plant.post(f"/assignments/{bob_assignment['id']}/sign", "bob", plant.sign("bob"), expect=201)
    launch = _roster(uow_factory, [ann, bob])

    def both_say() -> dict[str, tuple[str, str]]:
        at = now()
        with db.read_sessions() as session:
            rows = {r["name"]: r["status"] for r in lti_services.course_compliance(session, launch, at)}
        query = {"at": at.isoformat()}
        api = {
            name: plant.get(f"/people/{pid}/compliance", query_string=query)["standing"]["status"]
            for name, pid in (("Ann", ann), ("Bob", bob))
        }
        return {name: (rows[name], api[name]) for name in ("Ann", "Bob")}

    # Ann has not signed, her training is not late: the API says not qualified, so does the page
    # (it used to say "compliant": nothing was overdue).
    assert both_say() == {"Ann": ("not_qualified", "not_qualified"), "Bob": ("compliant", "compliant")}
    clock.set(now() + dt.timedelta(days=31))
    assert both_say()["Ann"] == ("overdue", "overdue")
    department = plant.get(f"/departments/{prod}/compliance", query_string={"at": now().isoformat()})
    assert department["standings"] == {"overdue": 1, "not_qualified": 0, "due": 0, "compliant": 1}
