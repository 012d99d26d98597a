// A big day's abstracts past the first screens (app/web/pages.py `_eager_abstracts`): early.js asked
// for them beside the page; here each goes into its empty <p class="summary" data-lazy>, as text, never
// markup. Then "coolpapers:abstracts" tells the scripts that read abstracts (keywords, math, clamping)
// which papers changed. Loaded last: its DOMContentLoaded handler runs after theirs.
"use strict";
(function () {
  if (!window.coolpapersAbstracts) return;

  function failed() {
    var notice = document.getElementById("abstracts-failed");
    if (notice) notice.hidden = false;
  }

  function fill(answer) {
    var abstracts = (answer && answer.abstracts) || {};
    var papers = [];
    Object.keys(abstracts).forEach(function (id) {
      var summary = document.getElementById("summary-" + id);
      if (!summary || !summary.hasAttribute("data-lazy")) return;
      summary.textContent = String(abstracts[id]);
      summary.removeAttribute("data-lazy");
      papers.push(summary.closest("div.paper"));
    });
    document.dispatchEvent(new CustomEvent("coolpapers:abstracts", { detail: { papers: papers } }));
    if (document.querySelector("p.summary[data-lazy]")) failed(); // an answer of another version
  }

  function start() { window.coolpapersAbstracts.then(fill, failed); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
