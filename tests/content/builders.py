"""Content packages authored in code for the tests: SCORM 1.2, SCORM 2004 (2nd, 3rd, 4th editions)
and cmi5, each with a small page that passes itself when its button is pressed, and the broken
and hostile packages the import must refuse.
"""

from __future__ import annotations

import io
import zipfile

EDITION_VERSIONS = {
    "scorm2004_2": "CAM 1.3",
    "scorm2004_3": "2004 3rd Edition",
    "scorm2004_4": "2004 4th Edition",
}

SCORM12_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>SCO 1.2</title>
<script src="sco.js"></script></head><body><h1>Gowning (SCORM 1.2)</h1>
<p id="found">looking for the API</p>
<label>Answer <input id="answer" value="b"></label>
<button id="pass" type="button">Finish and pass</button>
<button id="leave" type="button">Suspend and leave</button>
<p id="probe"></p>
<script>
var api = findAPI(window);
document.getElementById("found").textContent = api ? "API found" : "no API";
api.LMSInitialize("");
document.getElementById("found").textContent = "initialized; entry=" + api.LMSGetValue("cmi.core.entry")
  + "; location=" + api.LMSGetValue("cmi.core.lesson_location")
  + "; student=" + api.LMSGetValue("cmi.core.student_id");
api.LMSSetValue("cmi.core.lesson_location", "page-2");
api.LMSSetValue("cmi.suspend_data", "visited=1,2");
document.getElementById("pass").onclick = function () {
  api.LMSSetValue("cmi.interactions.0.id", "q1");
  api.LMSSetValue("cmi.interactions.0.type", "choice");
  api.LMSSetValue("cmi.interactions.0.student_response", document.getElementById("answer").value);
  api.LMSSetValue("cmi.interactions.0.result", "correct");
  api.LMSSetValue("cmi.core.score.raw", "90");
  api.LMSSetValue("cmi.core.score.min", "0");
  api.LMSSetValue("cmi.core.score.max", "100");
  api.LMSSetValue("cmi.core.lesson_status", "passed");
  api.LMSSetValue("cmi.core.session_time", "00:05:30");
  api.LMSCommit("");
  api.LMSFinish("");
  document.getElementById("found").textContent = "finished";
};
document.getElementById("leave").onclick = function () {
  api.LMSSetValue("cmi.core.exit", "suspend");
  api.LMSFinish("");
  document.getElementById("found").textContent = "suspended";
};
</script></body></html>"""

SCORM12_JS = """function findAPI(win) {
  var tries = 0;
  while (!win.API && win.parent && win.parent !== win && tries < 10) { win = win.parent; tries++; }
  return win.API || null;
}"""

SCORM2004_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>SCO 2004</title></head>
<body><h1>Cleanroom entry (SCORM 2004)</h1><p id="found">looking for the API</p>
<button id="pass" type="button">Finish and pass</button>
<p id="probe"></p>
<script>
var win = window, api = null;
for (var i = 0; i < 10 && win; i++) { if (win.API_1484_11) { api = win.API_1484_11; break; }
  if (win.parent === win) break; win = win.parent; }
api.Initialize("");
document.getElementById("found").textContent = "initialized; entry=" + api.GetValue("cmi.entry")
  + "; learner=" + api.GetValue("cmi.learner_id");
api.SetValue("cmi.location", "slide-3");
document.getElementById("pass").onclick = function () {
  api.SetValue("cmi.interactions.0.id", "q1");
  api.SetValue("cmi.interactions.0.type", "true-false");
  api.SetValue("cmi.interactions.0.learner_response", "true");
  api.SetValue("cmi.interactions.0.result", "correct");
  api.SetValue("cmi.score.scaled", "0.85");
  api.SetValue("cmi.score.raw", "85");
  api.SetValue("cmi.score.min", "0");
  api.SetValue("cmi.score.max", "100");
  api.SetValue("cmi.completion_status", "completed");
  api.SetValue("cmi.success_status", "passed");
  api.SetValue("cmi.session_time", "PT4M12S");
  api.SetValue("cmi.exit", "normal");
  api.Commit("");
  api.Terminate("");
  document.getElementById("found").textContent = "finished";
};
</script></body></html>"""

CMI5_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>AU</title></head>
<body><h1>Line clearance (cmi5 AU)</h1><p id="found">launching</p>
<button id="pass" type="button">Finish and pass</button>
<script>
var q = new URLSearchParams(location.search);
var endpoint = q.get("endpoint"), actor = JSON.parse(q.get("actor")), registration = q.get("registration");
var activityId = q.get("activityId"), token = null, sessionId = null, launchData = null;
var CAT = {"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"};
function send(verb, result, category) {
  var context = {"registration": registration, "extensions": {
    "https://w3id.org/xapi/cmi5/context/extensions/sessionid": sessionId}};
  if (category) context.contextActivities = {"category": [CAT]};
  var s = {"actor": actor, "verb": {"id": verb}, "object": {"id": activityId, "objectType": "Activity"},
           "context": context, "timestamp": new Date().toISOString()};
  if (result) s.result = result;
  return fetch(endpoint + "statements", {method: "POST", headers: {"Authorization": "Basic " + token,
    "Content-Type": "application/json", "X-Experience-API-Version": "1.0.3"}, body: JSON.stringify(s)})
    .then(function (r) { if (!r.ok) throw new Error(verb + " " + r.status); return r.json(); });
}
fetch(q.get("fetch"), {method: "POST"}).then(function (r) { return r.json(); }).then(function (body) {
  token = body["auth-token"];
  var url = endpoint + "activities/state?" + new URLSearchParams({activityId: activityId,
    agent: JSON.stringify(actor), registration: registration, stateId: "LMS.LaunchData"});
  return fetch(url, {headers: {"Authorization": "Basic " + token, "X-Experience-API-Version": "1.0.3"}});
}).then(function (r) { return r.json(); }).then(function (data) {
  launchData = data;
  sessionId = data.contextTemplate.extensions["https://w3id.org/xapi/cmi5/context/extensions/sessionid"];
  return send("http://adlnet.gov/expapi/verbs/initialized", null, true);
}).then(function () {
  document.getElementById("found").textContent = "initialized; moveOn=" + launchData.moveOn;
}).catch(function (e) { document.getElementById("found").textContent = "error " + e; });
document.getElementById("pass").onclick = function () {
  send("http://adlnet.gov/expapi/verbs/completed", {"completion": true, "duration": "PT3M"}, true)
  .then(function () { return send("http://adlnet.gov/expapi/verbs/passed",
      {"success": true, "score": {"scaled": 0.9}, "duration": "PT3M"}, true); })
  .then(function () { return send("http://adlnet.gov/expapi/verbs/terminated", {"duration": "PT3M"}, true); })
  .then(function () { document.getElementById("found").textContent = "finished"; })
  .catch(function (e) { document.getElementById("found").textContent = "error " + e; });
};
</script></body></html>"""


def zip_of(files: dict[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip holding ``files`` (name -> content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in files.items():  # fixed dates: the same files make the same bytes
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = compression
            archive.writestr(info, content.encode() if isinstance(content, str) else content)
    return buffer.getvalue()


def scorm12_manifest(
    identifier: str = "gowning-12",
    *,
    href: str = "sco/index.html",
    mastery: int | None = 80,
    title: str = "Gowning SCORM 1.2",
) -> str:
    """An imsmanifest.xml of SCORM 1.2 with one SCO."""
    mastery_xml = f"<adlcp:masteryscore>{mastery}</adlcp:masteryscore>" if mastery is not None else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="{identifier}" version="1.0" xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2"
  xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
  <metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
  <organizations default="org1"><organization identifier="org1"><title>{title}</title>
    <item identifier="item1" identifierref="res1"><title>Gowning lesson</title>{mastery_xml}</item>
  </organization></organizations>
  <resources><resource identifier="res1" type="webcontent" adlcp:scormtype="sco" href="{href}">
    <file href="{href}"/></resource></resources>
</manifest>"""


def scorm2004_manifest(
    edition: str = "scorm2004_4",
    identifier: str = "cleanroom-2004",
    *,
    href: str = "index.html",
    mastery: float | None = 0.8,
) -> str:
    """An imsmanifest.xml of SCORM 2004 (``edition`` 2nd, 3rd or 4th) with one SCO."""
    sequencing = ""
    if mastery is not None:
        sequencing = (
            f'<imsss:sequencing><imsss:objectives><imsss:primaryObjective objectiveID="p" '
            f'satisfiedByMeasure="true"><imsss:minNormalizedMeasure>{mastery}'
            f"</imsss:minNormalizedMeasure></imsss:primaryObjective></imsss:objectives>"
            f"</imsss:sequencing>"
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="{identifier}" version="1" xmlns="http://www.imsglobal.org/xsd/imscp_v1p1"
  xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_v1p3" xmlns:imsss="http://www.imsglobal.org/xsd/imsss">
  <metadata><schema>ADL SCORM</schema><schemaversion>{EDITION_VERSIONS[edition]}</schemaversion></metadata>
  <organizations default="org1"><organization identifier="org1"><title>Cleanroom entry</title>
    <item identifier="item1" identifierref="res1"><title>Cleanroom lesson</title>{sequencing}</item>
  </organization></organizations>
  <resources><resource identifier="res1" type="webcontent" adlcp:scormType="sco" href="{href}">
    <file href="{href}"/></resource></resources>
</manifest>"""


def cmi5_manifest(
    course_id: str = "https://example.com/courses/line-clearance",
    *,
    url: str = "au/index.html",
    move_on: str = "CompletedAndPassed",
    mastery: float | None = 0.8,
) -> str:
    """A cmi5.xml with one AU."""
    mastery_attr = f' masteryScore="{mastery}"' if mastery is not None else ""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<courseStructure xmlns="https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd">
  <course id="{course_id}"><title><langstring lang="en-US">Line clearance</langstring></title>
    <description><langstring lang="en-US">cmi5 test course</langstring></description></course>
  <au id="{course_id}/au1" moveOn="{move_on}"{mastery_attr} launchMethod="AnyWindow">
    <title><langstring lang="en-US">Line clearance AU</langstring></title>
    <description><langstring lang="en-US">the AU</langstring></description>
    <url>{url}</url></au>
</courseStructure>"""


def scorm12_package(**kwargs: object) -> bytes:
    """A SCORM 1.2 package with one SCO that passes itself."""
    return zip_of(
        {
            "imsmanifest.xml": scorm12_manifest(**kwargs),  # type: ignore[arg-type]
            "sco/index.html": SCORM12_PAGE,
            "sco/sco.js": SCORM12_JS,
        }
    )


def scorm2004_package(edition: str = "scorm2004_4", **kwargs: object) -> bytes:
    """A SCORM 2004 package (``edition``) with one SCO that passes itself."""
    return zip_of(
        {
            "imsmanifest.xml": scorm2004_manifest(edition, **kwargs),  # type: ignore[arg-type]
            "index.html": SCORM2004_PAGE,
        }
    )


def cmi5_package(**kwargs: object) -> bytes:
    """A cmi5 package with one AU that fetches its token, reads its launch data and passes."""
    return zip_of({"cmi5.xml": cmi5_manifest(**kwargs), "au/index.html": CMI5_PAGE})  # type: ignore[arg-type]


def scorm12_two_sco_package() -> bytes:
    """A SCORM 1.2 course of two SCOs: a lesson with a mastery score, then a reading without."""
    manifest = """<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="aseptic-12" version="1.0" xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2"
  xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
  <metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
  <organizations default="org1"><organization identifier="org1"><title>Aseptic technique</title>
    <item identifier="lesson" identifierref="res1"><title>Lesson</title>
      <adlcp:masteryscore>80</adlcp:masteryscore></item>
    <item identifier="reading" identifierref="res2"><title>Reading</title></item>
  </organization></organizations>
  <resources>
    <resource identifier="res1" type="webcontent" adlcp:scormtype="sco" href="sco/index.html">
      <file href="sco/index.html"/></resource>
    <resource identifier="res2" type="webcontent" adlcp:scormtype="sco" href="sco/reading.html">
      <file href="sco/reading.html"/></resource>
  </resources>
</manifest>"""
    return zip_of(
        {
            "imsmanifest.xml": manifest,
            "sco/index.html": SCORM12_PAGE,
            "sco/reading.html": SCORM12_PAGE.replace("Gowning (SCORM 1.2)", "Reading"),
            "sco/sco.js": SCORM12_JS,
        }
    )
