// Live timeline and dashboard: stream state, pause/resume with a count of what arrived
// meanwhile, and a row cap.
(function () {
  "use strict";

  var paused = false;
  var held = [];

  function page() { return document.getElementById("timeline-page"); }

  function maxRows() {
    var section = page();
    return section ? parseInt(section.getAttribute("data-max-rows"), 10) || 500 : 500;
  }

  function trimRows() {
    var body = document.getElementById("timeline");
    if (!body) { return; }
    var limit = maxRows();
    while (body.rows.length > limit) { body.deleteRow(body.rows.length - 1); }
    var empty = document.querySelector("#timeline-page .empty");
    if (empty && body.rows.length) { empty.hidden = true; }
  }

  function heldEvents() {
    return held.reduce(function (sum, data) {
      return sum + (data.match(/<tr /g) || []).length;
    }, 0);
  }

  function showHeld() {
    var label = document.getElementById("timeline-missed");
    if (!label) { return; }
    var count = heldEvents();
    label.hidden = !paused;
    label.textContent = count + (count === 1 ? " new event" : " new events") + " while paused";
  }

  function setPaused(value) {
    paused = value;
    var button = document.getElementById("timeline-pause");
    if (button) {
      button.textContent = paused ? "Resume" : "Pause";
      button.setAttribute("aria-pressed", paused ? "true" : "false");
    }
    if (!paused) {
      var feed = document.getElementById("timeline-feed");
      var pending = held;
      held = [];
      pending.forEach(function (data) { htmx.swap(feed, data, { swapStyle: "none" }); });
      trimRows();
    }
    showHeld();
  }

  document.addEventListener("click", function (event) {
    if (event.target && event.target.id === "timeline-pause") { setPaused(!paused); }
  });

  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    if (!paused) { return; }
    event.preventDefault();
    held.push(event.detail.data);
    showHeld();
  });

  document.addEventListener("htmx:sseMessage", trimRows);

  // The section says whether its stream is open, for the operator and for tests.
  document.addEventListener("htmx:sseOpen", function (event) {
    event.target.setAttribute("data-stream", "open");
  });
  document.addEventListener("htmx:sseError", function (event) {
    event.target.setAttribute("data-stream", "reconnecting");
  });

  // A new filter replaces the page section and its stream: start live again.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "timeline-page") {
      held = [];
      setPaused(false);
    }
  });
}());
