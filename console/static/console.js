// opentrail console: small progressive enhancements. Every page works
// without this script; it never builds HTML from strings.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Switching region submits at once.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    var button = sel.form.querySelector("button");
    if (button) button.hidden = true;
    sel.addEventListener("change", function () { sel.form.submit(); });
  });

  // The custom range inputs show only for a custom range.
  var filters = document.getElementById("filters");
  if (filters) {
    var range = filters.querySelector("#range");
    var sync = function () { filters.classList.toggle("hide-custom", range.value !== "custom"); };
    range.addEventListener("change", sync);
    sync();
  }

  // The trail form shows the selectors of the chosen mode.
  var trailForm = document.getElementById("trail-form");
  if (trailForm) {
    var syncMode = function () {
      var adv = trailForm.querySelector("input[name=mode][value=advanced]").checked;
      trailForm.classList.toggle("mode-advanced", adv);
      trailForm.classList.toggle("mode-basic", !adv);
    };
    trailForm.querySelectorAll("input[name=mode]").forEach(function (r) { r.addEventListener("change", syncMode); });
    syncMode();
  }

  var live = document.getElementById("live");
  if (live) setUpLive(live);
});

// Live mode polls for events newer than the page and adds them on top of
// the table.
function setUpLive(button) {
  var table = document.querySelector("#events tbody");
  var since = button.dataset.since;
  var seen = new Set();
  table.querySelectorAll("tr[data-id]").forEach(function (tr) { seen.add(tr.dataset.id); });
  var timer = null;
  button.hidden = false;

  function cell(text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function addRow(ev) {
    var tr = document.createElement("tr");
    tr.dataset.id = ev.id;
    tr.className = "fresh" + (ev.errorCode ? " failed" : "");
    var first = document.createElement("td");
    var a = document.createElement("a");
    a.href = ev.href;
    a.textContent = ev.name;
    first.appendChild(a);
    tr.appendChild(first);
    tr.appendChild(cell(ev.time, "nowrap"));
    tr.appendChild(cell(ev.user));
    tr.appendChild(cell(ev.source, "wide"));
    tr.appendChild(cell(ev.resourceTypes, "wide"));
    tr.appendChild(cell(ev.resourceNames, "wide"));
    var empty = table.querySelector("tr.empty");
    if (empty) empty.remove();
    table.insertBefore(tr, table.firstChild);
  }

  function poll() {
    var url = button.dataset.url + (button.dataset.url.indexOf("?") < 0 ? "?" : "&") + "since=" + encodeURIComponent(since);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.error) { button.title = data.error; return; }
        var events = data.events || [];
        for (var i = events.length - 1; i >= 0; i--) {
          if (!seen.has(events[i].id)) { seen.add(events[i].id); addRow(events[i]); }
        }
        if (events.length > 0) {
          // Times are "YYYY-MM-DD HH:MM:SS UTC": poll from the newest.
          since = events[0].time.replace(" UTC", "Z").replace(" ", "T");
        }
      })
      .catch(function (e) { button.title = String(e); });
  }

  button.addEventListener("click", function () {
    var on = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "Live: on" : "Live";
    if (on) { poll(); timer = setInterval(poll, 3000); } else { clearInterval(timer); }
  });
}
