// sagaflow console: the auto-refresh switch. Pages with an #auto-refresh box reload every
// 30 s while it is ticked; the choice is remembered per browser.
(function () {
  var box = document.getElementById("auto-refresh");
  if (!box) return;
  var key = "sagaflow.autoRefresh";
  box.checked = localStorage.getItem(key) !== "off";
  var timer = null;
  function arm() {
    if (timer) clearTimeout(timer);
    timer = box.checked ? setTimeout(function () { location.reload(); }, 30000) : null;
  }
  box.addEventListener("change", function () {
    localStorage.setItem(key, box.checked ? "on" : "off");
    arm();
  });
  arm();
})();
