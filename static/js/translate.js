// Titles and abstracts in the reader's language, and the FAQ asked in it.
// The language is chosen in the toolbar (#lang-select) and kept in this browser's localStorage; with
// one chosen, each paper gets a [译 Translate] button that shows the translation under the original
// (GET /api/v1/papers/{id}/translation?lang=..: 202 while it is written, polled as Retry-After says),
// and site.js opens the FAQ in that language (it reads <html data-faq-lang>). Everything the model
// wrote is put in as text, never as markup.
(function () {
  "use strict";
  var STORE = "coolpapers.lang";
  var POLL_MAX = 60; // polls of one translation before giving up (about a minute at 1 s)

  function saved() {
    try { return localStorage.getItem(STORE) || ""; } catch (e) { return ""; }
  }

  function save(lang) {
    try {
      if (lang) localStorage.setItem(STORE, lang); else localStorage.removeItem(STORE);
    } catch (e) { /* storage full or off: the choice lasts for this page */ }
  }

  function view(paper) {
    var box = paper.querySelector(".translation");
    if (!box) {
      box = document.createElement("div");
      box.className = "translation";
      box.setAttribute("aria-live", "polite");
      var summary = paper.querySelector(".summary");
      paper.insertBefore(box, summary ? summary.nextSibling : null);
    }
    return box;
  }

  function show(box, body) {
    var title = document.createElement("p");
    title.className = "translation-title";
    title.textContent = body.title || "";
    var abstract = document.createElement("p");
    abstract.className = "translation-abstract";
    abstract.textContent = body.abstract || "";
    box.lang = body.lang;
    box.replaceChildren(title, abstract);
    if (typeof renderMath === "function") renderMath(box);
  }

  function note(box, text) {
    var line = document.createElement("p");
    line.className = "translation-status";
    line.textContent = text;
    box.replaceChildren(line);
  }

  function load(paper, lang, box, tries) {
    var url = "/api/v1/papers/" + encodeURIComponent(paper.id) + "/translation?lang=" + encodeURIComponent(lang);
    fetch(url, { headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) { return { status: response.status, body: body }; });
      })
      .then(function (answer) {
        if (box.dataset.lang !== lang) return; // the reader changed the language meanwhile
        if (answer.status === 200) { show(box, answer.body); return; }
        if (answer.status === 202 && tries < POLL_MAX) {
          note(box, "Translating…");
          window.setTimeout(function () { load(paper, lang, box, tries + 1); }, 1000 * (answer.body.retry_after || 1));
          return;
        }
        note(box, answer.body.error || answer.body.detail || "The translation is unavailable right now.");
      })
      .catch(function () { note(box, "The translation is unavailable right now."); });
  }

  function toggle(paper, button) {
    var lang = saved();
    var box = view(paper);
    var open = button.getAttribute("aria-expanded") === "true";
    button.setAttribute("aria-expanded", open ? "false" : "true");
    box.hidden = open;
    if (open || (box.dataset.lang === lang && box.childNodes.length)) return;
    box.dataset.lang = lang;
    note(box, "Translating…");
    load(paper, lang, box, 0);
  }

  function buttons(lang) {
    document.querySelectorAll("div.paper[id]").forEach(function (paper) {
      var button = paper.querySelector(".title-translate");
      var box = paper.querySelector(".translation");
      if (box && box.dataset.lang !== lang) box.remove(); // another language's text: gone
      if (!lang) { if (button) button.remove(); return; }
      if (button) { button.setAttribute("aria-expanded", "false"); return; }
      button = document.createElement("button");
      button.type = "button";
      button.className = "title-translate";
      button.textContent = "[译]";
      button.title = "translate the title and abstract";
      button.setAttribute("aria-expanded", "false");
      button.addEventListener("click", function () { toggle(paper, button); });
      var anchor = paper.querySelector(".title-copy");
      var title = paper.querySelector("h2.title");
      if (anchor) anchor.after(button); else if (title) title.appendChild(button);
    });
  }

  function apply(lang) {
    if (lang) document.documentElement.dataset.faqLang = lang;
    else delete document.documentElement.dataset.faqLang;
    // FAQs opened in the former language are asked again in this one when reopened.
    document.querySelectorAll(".faq-view").forEach(function (faq) {
      if (faq.dataset.status) { faq.hidden = true; delete faq.dataset.status; faq.replaceChildren(); }
    });
    buttons(lang);
  }

  function start() {
    var lang = saved();
    var select = document.getElementById("lang-select");
    if (select) {
      if (lang && !Array.prototype.some.call(select.options, function (o) { return o.value === lang; })) {
        lang = ""; // a language this site no longer offers
        save("");
      }
      select.value = lang;
      select.addEventListener("change", function () {
        save(select.value);
        apply(select.value);
      });
    }
    apply(lang);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
