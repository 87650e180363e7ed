// opentrail console, Lake pages: small progressive enhancements. Every
// page works without this script; it never builds HTML from strings.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // The store form: a preset fills the selectors; editing them makes
  // them custom.
  var preset = document.getElementById("preset");
  var selectors = document.getElementById("selectors");
  if (preset && selectors) {
    preset.addEventListener("change", function () {
      var opt = preset.options[preset.selectedIndex];
      if (opt.dataset.json) selectors.value = opt.dataset.json;
    });
    selectors.addEventListener("input", function () { preset.value = "custom"; });
  }

  // The editor: insert the chosen store's ID at the cursor; choosing
  // another store swaps its ID into the statement.
  var store = document.getElementById("store");
  var sql = document.getElementById("sql");
  var insert = document.getElementById("insert-store");
  if (store && sql && insert) {
    insert.hidden = false;
    insert.addEventListener("click", function () {
      var start = sql.selectionStart, end = sql.selectionEnd;
      sql.setRangeText(store.value, start, end, "end");
      sql.focus();
    });
    var previous = store.value;
    store.addEventListener("change", function () {
      if (previous) sql.value = sql.value.split(previous).join(store.value);
      previous = store.value;
    });
  }

  // A running query's page polls its status and shows the page with the
  // results once it ends.
  var stats = document.querySelector("#query-stats[data-poll]");
  if (stats) pollQuery(stats);
});

function pollQuery(stats) {
  var fields = {
    status: "query-status", eventsMatched: "events-matched", eventsScanned: "events-scanned",
    bytesScanned: "bytes-scanned", executionTime: "execution-time"
  };
  // A form sent from the page (Cancel) ends the polling: its answer is
  // the next page.
  var leaving = false;
  document.addEventListener("submit", function () { leaving = true; });
  function poll() {
    if (leaving) return;
    fetch(stats.dataset.poll, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.error) { stats.title = data.error; setTimeout(poll, 3000); return; }
        Object.keys(fields).forEach(function (k) {
          var el = document.getElementById(fields[k]);
          if (el) el.textContent = String(data[k]);
        });
        if (leaving) return;
        if (data.active) { setTimeout(poll, 1000); } else { location.reload(); }
      })
      .catch(function (e) { stats.title = String(e); setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
}
