// Upload progress of the matrix import (htmx's xhr progress events; no inline script under the CSP).
(function () {
  "use strict";
  function bar() { return document.getElementById("import-progress"); }
  document.addEventListener("htmx:xhr:progress", function (evt) {
    var progress = bar();
    if (!progress || !evt.detail || !evt.detail.lengthComputable) { return; }
    progress.hidden = false;
    progress.value = Math.round(100 * evt.detail.loaded / evt.detail.total);
    var text = document.getElementById("import-status");
    if (text) {
      text.textContent = progress.value < 100 ? "Uploading: " + progress.value + "%" : "Uploaded; checking every row…";
    }
  });
  document.addEventListener("htmx:afterRequest", function () {
    var text = document.getElementById("import-status");
    if (text) { text.textContent = ""; }
    var progress = bar();
    if (progress) { progress.hidden = true; }
  });
})();
