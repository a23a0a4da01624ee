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

// Copy buttons: `data-copy` holds the whole saga id. They stay hidden where the clipboard
// cannot be written (old browsers, plain HTTP off localhost); the id is selectable text anyway.
(function () {
  if (!navigator.clipboard) return;
  document.querySelectorAll("button.copy[data-copy]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(b.dataset.copy).then(function () {
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = "Copy"; }, 1500);
      });
    });
  });
})();

// Data-bundle orders: choosing orders or typing a reason stops the auto-refresh, which would
// otherwise reload the page and lose the choice. The box says so, and can be ticked again.
(function () {
  var form = document.querySelector("form.bundle-actions");
  var box = document.getElementById("auto-refresh");
  if (!form || !box) return;
  function pause() {
    if (!box.checked) return;
    box.checked = false;
    box.dispatchEvent(new Event("change"));
    box.parentNode.appendChild(document.createTextNode(" (paused while you choose)"));
  }
  form.addEventListener("input", pause);
  form.addEventListener("change", pause);
})();

// Pictures slice: a live saga's picture refreshes every 5 s from its fragment route while the
// box is ticked (remembered per browser), and stops once the saga has finished.
(function () {
  var section = document.getElementById("saga-picture");
  var box = document.getElementById("picture-refresh");
  var slot = document.getElementById("picture-slot");
  if (!section || !box || !slot) return;
  var key = "sagaflow.pictureRefresh";
  box.checked = localStorage.getItem(key) !== "off";
  var timer = null;
  function live() {
    var body = slot.querySelector(".picture-body");
    return body && body.dataset.live === "true";
  }
  function tick() {
    fetch(section.dataset.src, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null) slot.innerHTML = html;
        arm();
      })
      .catch(arm);
  }
  function arm() {
    if (timer) clearTimeout(timer);
    timer = box.checked && live() ? setTimeout(tick, 5000) : null;
  }
  box.addEventListener("change", function () {
    localStorage.setItem(key, box.checked ? "on" : "off");
    arm();
  });
  arm();
})();
