"""Statements shaped exactly like the shared Moodle 4.5 captures become evidence."""

from __future__ import annotations

from tests.bridge.conftest import PAGE, QUIZ, SCORM, quiz_session, scorm_session


def test_quiz_attempt_completes_the_course_through_the_lti_identity(bridge):
    bridge.course("GMP-QUIZ", [QUIZ], pass_score=0.8)
    bridge.course("GMP-PAGE", [PAGE], requires_signature=True)
    quiz = bridge.assign("nina", "GMP-QUIZ")
    page = bridge.assign("nina", "GMP-PAGE")

    ids = bridge.post_statements(quiz_session())  # one array, as the log store's background mode

    assert len(ids) == 27
    quiz_now = bridge.assignment(quiz)
    assert quiz_now["status"] == "completed"
    assert bridge.assignment(page)["status"] == "content_complete"
    evidence = {e["statement_id"]: e for e in quiz_now["evidence"]}
    attempt = evidence[ids[13]]  # completed on mod/quiz/attempt.php?attempt=1&cmid=5
    assert attempt["decision"] == "completed"
    assert attempt["activity_iri"].endswith("attempt.php?attempt=1&cmid=5")
    assert attempt["result"]["score"] == {"raw": 10, "min": 0, "max": 10, "scaled": 1.0}
    assert attempt["result"]["duration"] == "PT13S"
    assert attempt["result"]["registration"] == "7184d6ab-8ee1-50eb-b22d-03e7ef5cfa37"
    module = evidence[ids[12]]  # course-module completion: no score to judge the pass mark
    assert module["decision"] == "recorded"
    completion = bridge.plant.get(f"/completions/{quiz_now['completion_id']}", "auditor")
    assert completion["score_scaled"] == 1.0
    assert [e["statement_id"] for e in completion["evidence_rows"] if e["completion_id"]] == [ids[13]]
    transcript = bridge.plant.get(f"/people/{bridge.people['nina']}/transcript", "auditor")
    assert ids[13] in {e["statement_id"] for e in transcript["evidence"]}
    # Omar (Moodle user 3) is nobody yet: his statements wait, listed.
    waiting = bridge.plant.get("/evidence/unmapped", "auditor")
    actors = {a["actor_key"]: a for a in waiting["actors"]}
    assert actors["xapi_account|https://moodle.plant.example|3"]["statements"] == 3
    assert actors["xapi_account|https://moodle.plant.example|3"]["name"] == "Omar Operator"


def test_real_time_mode_one_statement_a_request(bridge):
    bridge.course("GMP-QUIZ", [QUIZ], pass_score=0.8)
    quiz = bridge.assign("nina", "GMP-QUIZ")
    for statement in quiz_session()[:13]:
        bridge.post_statements([statement])
    assert bridge.assignment(quiz)["status"] == "open"
    bridge.post_statements([quiz_session()[13]])
    assert bridge.assignment(quiz)["status"] == "completed"


def test_scorm_raw_score_without_min_max(bridge):
    bridge.course("SCORM-OPEN", [SCORM])
    bridge.course("SCORM-GRADED", ["http://127.0.0.1:8081/mod/scorm/view.php?id=9"], pass_score=0.8)
    scorm = bridge.assign("stu", "SCORM-OPEN")
    graded = bridge.assign("stu", "SCORM-GRADED")
    statements = scorm_session()
    ids = bridge.post_statements(statements)
    now = bridge.assignment(scorm)
    assert now["status"] == "completed"  # SCO IRI view.php?id=3#sco is evidence on the module
    first = next(e for e in now["evidence"] if e["statement_id"] == ids[9])
    assert first["result"]["score"]["raw"] == 85 and first["result"]["score"]["scaled"] is None
    assert first["decision"] == "completed"
    # The same attempt on a graded item: a raw score without min/max cannot meet a pass mark.
    for statement in statements:
        statement["object"]["id"] = statement["object"]["id"].replace("id=3", "id=9")
    later = bridge.post_statements(statements[9:10])
    graded_now = bridge.assignment(graded)
    assert graded_now["status"] == "open"
    row = next(e for e in graded_now["evidence"] if e["statement_id"] == later[0])
    assert row["decision"] == "recorded"
    assert "raw score without min and max" in row["reason"]


def test_moodle_scaled_score_is_recomputed(bridge):
    bridge.course("GMP-QUIZ", [QUIZ], pass_score=0.8)
    quiz = bridge.assign("nina", "GMP-QUIZ")
    attempt = quiz_session()[13]
    attempt["result"]["score"] = {"raw": 6, "min": 0, "max": 10, "scaled": 1}  # the plugin's wrong scaled
    attempt["result"]["success"] = True
    bridge.post_statements([attempt])
    now = bridge.assignment(quiz)
    assert now["status"] == "open"
    assert now["evidence"][0]["decision"] == "below_pass_mark"
    assert now["evidence"][0]["result"]["score"]["scaled"] == 0.6
