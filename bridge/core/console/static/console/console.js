/* GxP Bridge console: the little script the pages share (served from this site: no inline script).
   - <input type="checkbox" data-select-all="NAME">: ticks or clears every checkbox named NAME. */
document.addEventListener("change", function (event) {
  var box = event.target;
  if (!box.matches || !box.matches("input[data-select-all]")) { return; }
  document.querySelectorAll('input[type="checkbox"][name="' + box.dataset.selectAll + '"]').forEach(function (item) {
    item.checked = box.checked;
  });
});
