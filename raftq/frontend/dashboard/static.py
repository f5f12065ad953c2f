"""The dashboard's only stylesheet and script, written here (no build step, no framework).

The script does one thing: every `PERIOD_MS` it fetches the page's live part (`data-live`) and
puts it in place. It keeps no state that grows: one timer at a time (the next one is set when
a fetch ends, for `PERIOD_MS` after the fetch began, so a slow server never stacks requests),
the section's content replaced, not appended to. A signed-out or expired session (401) reloads
the page, which leads to sign-in.
"""

from __future__ import annotations

from typing import Final

SCRIPT: Final = """\
"use strict";
(function () {
  var PERIOD_MS = 2000;
  function refresh(section) {
    var started = Date.now();
    var url = section.getAttribute("data-live");
    fetch(url, {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (typeof html === "string") {
          section.innerHTML = html;
          var count = Number(section.getAttribute("data-refreshes") || "0") + 1;
          section.setAttribute("data-refreshes", String(count));
        }
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () {
        var wait = Math.max(0, PERIOD_MS - (Date.now() - started));
        window.setTimeout(function () { refresh(section); }, wait);
      });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var section = document.getElementById("live");
    if (section) { window.setTimeout(function () { refresh(section); }, PERIOD_MS); }
  });
})();
"""

STYLE: Final = """\
body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
nav { background: #23395b; color: #fff; padding: .5rem 1rem; display: flex; gap: 1rem;
      align-items: center; }
nav a { color: #fff; }
nav .who { margin-left: auto; opacity: .8; }
nav form { margin: 0; }
main { padding: 1rem 2rem; max-width: 80rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; background: #fff; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; }
td { font-variant-numeric: tabular-nums; }
form { margin: .5rem 0 1rem; }
label { display: block; margin: .3rem 0; }
input { padding: .2rem; }
button { padding: .3rem .8rem; cursor: pointer; }
.notice { background: #e6f4e6; border: 1px solid #3a9a3a; padding: .5rem; }
.error { background: #fbeaea; border: 1px solid #b94a2b; padding: .5rem; }
.muted { color: #777; }
.chart { width: 100%; max-width: 600px; height: 120px; background: #fff; border: 1px solid #ccc; }
.legend-send { color: #2b7bb9; }
.legend-receive { color: #3a9a3a; }
.legend-delete { color: #b94a2b; }
.health-healthy h3::after { content: " ●"; color: #3a9a3a; }
.health-degraded h3::after { content: " ●"; color: #d9a400; }
.health-down h3::after { content: " ●"; color: #b94a2b; }
"""
