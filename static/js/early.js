// Buttons that work before the page's deferred scripts have run. A 2,000-paper day takes seconds to
// arrive and parse on a slow phone, and site.js / triage.js run only after the last paper: until then
// this (loaded in <head>, without defer, a few hundred bytes) answers the clicks. A star toggles at once
// (the same localStorage list triage.js keeps); a click on [PDF], [Kimi], [Copy] or a dismiss is kept
// and replayed once the page's scripts are in. Then it steps aside.
"use strict";
(function () {
  var CONTROLS = ".title-star, .title-copy, .title-dismiss, a.title-pdf, a.title-kimi";
  var RANKING_AT_MOST_MS = 15000; // triage.js ends it; this only guards against a script that never came
  var kept = [];

  // A big day's abstracts past the first screens: the page names their URL in <head>
  // (pages._eager_abstracts). Asked now, beside the page's own bytes; abstracts.js fills them in.
  var lazy = document.querySelector('meta[name="coolpapers-abstracts"]');
  if (lazy && window.fetch) {
    window.coolpapersAbstracts = fetch(lazy.content, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("abstracts: HTTP " + response.status);
      return response.json();
    });
    window.coolpapersAbstracts.catch(function () { /* abstracts.js says so on the page */ });
  }

  // "For you" with something to rank by: the listing in arXiv order is not laid out at all until the
  // ranked order replaces it (site.css `html.ranking`; the notice says it is ranking). Laying out a
  // 2,000-paper day first held the ranked answer back for seconds, and showed the wrong order meanwhile.
  try {
    var asks = /[?&]sort=foryou(&|$)/.test(location.search);
    var stars = JSON.parse(localStorage.getItem("coolpapers.stars") || "[]");
    var words = (JSON.parse(localStorage.getItem("coolpapers.keywords") || "{}") || {}).include;
    if (asks && ((Array.isArray(stars) && stars.length) || (typeof words === "string" && words.trim()))) {
      document.documentElement.classList.add("ranking");
      setTimeout(function () { document.documentElement.classList.remove("ranking"); }, RANKING_AT_MOST_MS);
    }
  } catch (e) { /* storage off: nothing to rank by */ }

  function pageScriptsIn() {
    return typeof window.setStarred === "function" && typeof window.toggleKimi === "function";
  }

  function toggleStar(button) {
    var id = button.dataset.paper;
    var stars;
    try { stars = JSON.parse(localStorage.getItem("coolpapers.stars") || "[]"); } catch (e) { stars = []; }
    if (!Array.isArray(stars)) stars = [];
    var on = stars.indexOf(id) < 0;
    stars = stars.filter(function (s) { return s !== id; });
    if (on) stars.unshift(id);
    try { localStorage.setItem("coolpapers.stars", JSON.stringify(stars)); } catch (e) { /* full or off */ }
    button.textContent = on ? "★" : "☆";
    button.classList.toggle("starred", on);
    button.setAttribute("aria-pressed", on ? "true" : "false");
  }

  document.addEventListener("click", function (event) {
    if (pageScriptsIn() || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    var control = event.target.closest && event.target.closest(CONTROLS);
    if (!control) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (control.classList.contains("title-star")) {
      toggleStar(control);
      return;
    }
    if (kept.indexOf(control) < 0) kept.push(control);
    control.setAttribute("aria-busy", "true");
  }, true);

  // After every DOMContentLoaded handler (site.js and triage.js register theirs after this one).
  document.addEventListener("DOMContentLoaded", function () {
    setTimeout(function () {
      kept.splice(0).forEach(function (control) {
        control.removeAttribute("aria-busy");
        if (pageScriptsIn()) control.click();
      });
    }, 0);
  });
})();
