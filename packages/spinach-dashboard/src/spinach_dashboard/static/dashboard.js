// Spinach dashboard: show times in the browser's time zone, and refresh the live parts of the
// page (elements with data-live and an id) every few seconds while the tab is visible.
// The chart's minutes (titles with data-minute) get the local time too; open <details> stay
// open across a refresh.
// Pages work without it: this only improves them.
(function () {
  "use strict";

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var moment = new Date(el.getAttribute("datetime"));
      if (isNaN(moment.getTime())) { return; }
      el.title = el.textContent;
      el.textContent = moment.toLocaleString(undefined, {
        year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit"
      });
    });
    root.querySelectorAll("[data-minute]").forEach(function (el) {
      var moment = new Date(el.getAttribute("data-minute"));
      if (isNaN(moment.getTime())) { return; }
      el.textContent = moment.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) +
        (el.getAttribute("data-rest") || "");
    });
  }

  // Whether the user is filling or pressing a control inside `part` (a followed link or an
  // opened <details> may be replaced: what it shows is kept).
  function typing(part) {
    var active = document.activeElement;
    return part.contains(active) && active.matches("input, select, textarea, button");
  }

  var period = parseFloat(document.body.dataset.refresh || "0") * 1000;
  var timer = null;
  var inFlight = false;
  var status = document.querySelector("[data-live-status]");

  function refresh() {
    if (inFlight || document.hidden) { return; }
    inFlight = true;
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (old) {
          if (typing(old)) { return; }  // never under the user's hands
          var next = fresh.getElementById(old.id);
          if (next) {
            old.querySelectorAll("details[open][id]").forEach(function (open) {
              var same = next.querySelector("#" + CSS.escape(open.id));
              if (same) { same.open = true; }
            });
            localTimes(next);
            old.replaceWith(document.importNode(next, true));
          }
        });
        document.dispatchEvent(new CustomEvent("spinach:refreshed"));
      })
      .catch(function () { /* the next tick tries again */ })
      .finally(function () { inFlight = false; });
  }

  function start() {
    if (timer === null && period > 0 && document.querySelector("[data-live][id]")) {
      timer = window.setInterval(refresh, period);
      if (status) { status.hidden = false; }
    }
  }

  function stop() {
    if (timer !== null) { window.clearInterval(timer); timer = null; }
    if (status) { status.hidden = true; }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { stop(); } else { refresh(); start(); }
  });

  localTimes(document);
  var zone = document.querySelector("[data-zone]");
  if (zone) { zone.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time"; }
  if (!document.hidden) { start(); }
})();
