/* GxP Bridge content player: exposes the SCORM 1.2 `API` or SCORM 2004 `API_1484_11` (scorm-again)
 * to the package in the frame, commits the runtime data to /play/<token>/commit (JSON; the final
 * commit by sendBeacon as text/plain), and loads a cmi5 AU with its launch parameters. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("play-data").textContent);
  var status = document.getElementById("player-status");
  var frame = document.getElementById("content-frame");
  var sequence = data.next_sequence || 0;
  var show = function (text) { status.textContent = text; };

  if (data.standard === "cmi5") {
    frame.src = data.launch_url;
    show("playing");
    return;
  }
  var scorm12 = data.standard === "scorm12";
  var settings = {
    lmsCommitUrl: data.commit_url,
    autocommit: true,
    autocommitSeconds: 15,
    logLevel: 5,
    requestHandler: function (commitObject, metadata) {
      var terminate = !!(metadata && metadata.isTerminateCommit);
      return { sequence: sequence++, terminate: terminate, cmi: commitObject };
    }
  };
  var api = scorm12 ? new window.Scorm12API(settings) : new window.Scorm2004API(settings);
  var resume = data.resume || {};
  var suspended = resume.exit === "suspend" && (resume.suspend_data || resume.location);
  if (scorm12) {
    var core = { student_id: data.learner_id, student_name: data.learner_name,
                 entry: suspended ? "resume" : "ab-initio", lesson_location: suspended ? resume.location : "" };
    var cmi = { core: core, suspend_data: suspended ? resume.suspend_data : "" };
    if (data.launch_data) { cmi.launch_data = data.launch_data; }
    if (data.mastery_score !== null && data.mastery_score !== undefined) {
      cmi.student_data = { mastery_score: String(Math.round(data.mastery_score * 100)) };
    }
    api.loadFromJSON(cmi, "cmi");
    window.API = api;
  } else {
    var cmi2004 = { learner_id: data.learner_id, learner_name: data.learner_name,
                    entry: suspended ? "resume" : "ab-initio", location: suspended ? resume.location : "",
                    suspend_data: suspended ? resume.suspend_data : "" };
    if (data.launch_data) { cmi2004.launch_data = data.launch_data; }
    if (data.mastery_score !== null && data.mastery_score !== undefined) {
      cmi2004.scaled_passing_score = String(data.mastery_score);
    }
    if (data.completion_threshold !== null && data.completion_threshold !== undefined) {
      cmi2004.completion_threshold = String(data.completion_threshold);
    }
    api.loadFromJSON(cmi2004, "cmi");
    window.API_1484_11 = api;
  }
  var events = scorm12 ? ["LMSInitialize", "LMSFinish"] : ["Initialize", "Terminate"];
  api.on(events[0], function () { show("playing"); });
  api.on(events[1], function () { show("finished"); });
  frame.src = data.launch_url;
})();
