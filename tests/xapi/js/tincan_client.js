// TinCanJS (Rustici's client, the one most authoring tools embed) against the record store.
// Usage: node tincan_client.js ENDPOINT KEY SECRET VERSION ; prints one line per check, exits 1 on
// the first failure.
"use strict";
const crypto = require("crypto");
const TinCan = require("tincanjs");

const [endpoint, key, secret, version] = process.argv.slice(2);
const lrs = new TinCan.LRS({ endpoint, username: key, password: secret, allowFail: false, version });
const actor = new TinCan.Agent({ name: "Olivia Operator", mbox: `mailto:olivia-${crypto.randomUUID()}@plant.example` });
const activity = new TinCan.Activity({
  id: `https://lms.plant.example/sop/${crypto.randomUUID()}`,
  definition: { name: { "en-US": "SOP-014 Line clearance" } },
});
const verb = (name) => new TinCan.Verb({ id: `http://adlnet.gov/expapi/verbs/${name}`, display: { "en-US": name } });

function check(condition, what) {
  if (!condition) {
    console.log(`FAILED ${what}`);
    process.exit(1);
  }
  console.log(`ok ${what}`);
}

// TinCanJS takes node-style callbacks; (err, result) pairs are easier to check in order.
const call = (fn) => new Promise((resolve) => fn((err, result) => resolve([err, result])));

(async () => {
  let [err, result] = await call((cb) => lrs.about({ callback: cb }));
  check(err === null && result.version.length > 0, "about");

  const completed = new TinCan.Statement({ actor, verb: verb("completed"), target: activity,
    result: { completion: true, success: true, score: { scaled: 0.8 } } });
  [err] = await call((cb) => lrs.saveStatement(completed, { callback: cb }));
  check(err === null, "saveStatement (PUT with the client's id)");
  const attempted = new TinCan.Statement({ actor, verb: verb("attempted"), target: activity });
  const passed = new TinCan.Statement({ actor, verb: verb("passed"), target: activity });
  [err] = await call((cb) => lrs.saveStatements([attempted, passed], { callback: cb }));
  check(err === null, "saveStatements");
  [err, result] = await call((cb) => lrs.retrieveStatement(completed.id, { callback: cb }));
  check(err === null && result.id === completed.id && result.stored, "retrieveStatement");
  [err, result] = await call((cb) => lrs.queryStatements({ params: { agent: actor, activity, limit: 2 }, callback: cb }));
  check(err === null && result.statements.length === 2 && result.more, "queryStatements agent+activity, limit 2");
  [err, result] = await call((cb) => lrs.moreStatements({ url: result.more, callback: cb }));
  check(err === null && result.statements.length === 1, "moreStatements");
  [err, result] = await call((cb) => lrs.queryStatements({ params: { agent: actor, verb: verb("passed") }, callback: cb }));
  check(err === null && result.statements.length === 1 && result.statements[0].id === passed.id, "queryStatements agent+verb");

  const registration = TinCan.Utils.getUUID();
  const where = { agent: actor, activity, registration };
  [err] = await call((cb) => lrs.saveState("bookmark", "page-3", { ...where, callback: cb }));
  check(err === null, "saveState without preconditions");
  [err] = await call((cb) => lrs.saveState("bookmark", "page-4", { ...where, callback: cb }));
  check(err === null, "saveState again without preconditions");
  [err, result] = await call((cb) => lrs.retrieveState("bookmark", { ...where, callback: cb }));
  check(err === null && result.contents === "page-4", "retrieveState");
  [err] = await call((cb) => lrs.saveState("progress", { a: 1 }, { ...where, contentType: "application/json", callback: cb }));
  check(err === null, "saveState JSON");
  [err] = await call((cb) => lrs.saveState("progress", { b: 2 }, { ...where, contentType: "application/json", method: "POST", callback: cb }));
  check(err === null, "saveState POST (JSON merge)");
  [err, result] = await call((cb) => lrs.retrieveState("progress", { ...where, callback: cb }));
  check(err === null && result.contents.a === 1 && result.contents.b === 2, "retrieveState merged");
  [err, result] = await call((cb) => lrs.retrieveStateIds({ ...where, callback: cb }));
  check(err === null && result.length === 2, "retrieveStateIds");
  [err] = await call((cb) => lrs.dropState("bookmark", { ...where, callback: cb }));
  check(err === null, "dropState");

  [err] = await call((cb) => lrs.saveActivityProfile("settings", "v1", { activity, callback: cb }));
  check(err === null, "saveActivityProfile (new)");
  [err, result] = await call((cb) => lrs.retrieveActivityProfile("settings", { activity, callback: cb }));
  check(err === null && result.contents === "v1" && result.etag, "retrieveActivityProfile with ETag");
  [err] = await call((cb) => lrs.saveActivityProfile("settings", "v2", { activity, lastSHA1: result.etag, callback: cb }));
  check(err === null, "saveActivityProfile with If-Match");
  [err, result] = await call((cb) => lrs.retrieveActivityProfile("settings", { activity, callback: cb }));
  check(err === null && result.contents === "v2", "retrieveActivityProfile after the update");
  [err] = await call((cb) => lrs.dropActivityProfile("settings", { activity, callback: cb }));
  check(err === null, "dropActivityProfile");
  [err] = await call((cb) => lrs.saveAgentProfile("preferences", "de", { agent: actor, callback: cb }));
  check(err === null, "saveAgentProfile (new)");
  [err, result] = await call((cb) => lrs.retrieveAgentProfile("preferences", { agent: actor, callback: cb }));
  check(err === null && result.contents === "de", "retrieveAgentProfile");
  [err] = await call((cb) => lrs.dropAgentProfile("preferences", { agent: actor, callback: cb }));
  check(err === null, "dropAgentProfile");
  [err, result] = await call((cb) => lrs.retrieveActivity(activity.id, { callback: cb }));
  check(err === null && result.definition.name["en-US"] === "SOP-014 Line clearance", "retrieveActivity");
  console.log(`AGENT ${actor.mbox}`);
  console.log("ALL PASSED");
})();
