// Follow-up questions under each inline FAQ (POST /api/v1/papers/{id}/ask). A small form follows each
// FAQ view; the answer's server-sent events are read from the POST's response body (EventSource can
// only GET). Each event carries the answer so far as HTML the server rendered from Markdown without
// raw HTML and with links checked (app/summarize/render.py), so it is shown as given and nothing in it
// runs (CSP: no inline scripts or handlers). The question and every message are set as text.
(function () {
  "use strict";

  var MAX_CHARS = 500;

  function buildForm(id) {
    var form = document.createElement("form");
    form.className = "ask-form";
    form.dataset.paper = id;
    var label = document.createElement("label");
    label.textContent = "Ask a follow-up question ";
    var input = document.createElement("input");
    input.type = "text";
    input.name = "question";
    input.maxLength = MAX_CHARS;
    input.minLength = 3;
    input.required = true;
    input.placeholder = "e.g. Which datasets are used?";
    label.append(input);
    var button = document.createElement("button");
    button.type = "submit";
    button.textContent = "Ask";
    var answers = document.createElement("div");
    answers.className = "ask-answers";
    answers.setAttribute("aria-live", "polite");
    form.append(label, button, answers);
    return form;
  }

  // One form after an inline FAQ view while it is shown, made the first time it opens: a day of
  // 2,000 papers does not build 2,000 forms at load (one observer watches every view's `hidden`).
  function sync(view) {
    if (!view.id || view.id.indexOf("faq-view-") !== 0) return;
    var next = view.nextElementSibling;
    var form = next && next.classList.contains("ask-form") ? next : null;
    if (!form && view.hidden) return;
    if (!form) {
      form = buildForm(view.id.slice("faq-view-".length));
      view.after(form);
    }
    form.hidden = view.hidden;
  }

  function paperOf(form) {
    if (form.dataset.paper) return form.dataset.paper;
    var faq = form.closest(".faq");
    return faq && faq.id.indexOf("faq-") === 0 ? faq.id.slice(4) : "";
  }

  function ownKeyHeaders() {
    var own = window.coolpapersOwnKey;
    return own && typeof own.headers === "function" ? own.headers() : {};
  }

  function show(item, data) {
    item.box.dataset.status = data.status;
    item.answer.innerHTML = data.html; // sanitised server-side: see the comment at the top
    var parts = [];
    if (data.note) parts.push(data.note);
    if (data.model) parts.push((data.shared ? "Written by " : "Written by your model ") + data.model + ".");
    item.note.textContent = parts.join(" ");
    if (data.status === "failed") item.error.textContent = "The answer could not be written: " + (data.error || "unknown error");
    if (data.status === "ready" && typeof renderMath === "function") renderMath(item.answer);
  }

  function ask(form) {
    var input = form.elements.question;
    var button = form.querySelector("button");
    var question = input.value.trim();
    if (!question) return;
    var item = {
      box: document.createElement("div"),
      question: document.createElement("p"),
      answer: document.createElement("div"),
      note: document.createElement("p"),
      error: document.createElement("p"),
    };
    item.box.className = "ask-item";
    item.question.className = "ask-q";
    item.question.textContent = question;
    item.answer.className = "ask-a faq-a";
    item.answer.textContent = "…";
    item.note.className = "faq-meta";
    item.error.className = "faq-error";
    item.box.append(item.question, item.answer, item.note, item.error);
    form.querySelector(".ask-answers").prepend(item.box);
    button.disabled = true;
    var headers = Object.assign({ "Content-Type": "application/json" }, ownKeyHeaders());
    fetch("/api/v1/papers/" + encodeURIComponent(paperOf(form)) + "/ask", {
      method: "POST",
      headers: headers,
      body: JSON.stringify({ question: question }),
    })
      .then(function (response) {
        if (!response.ok) {
          return response.json().then(function (body) {
            throw new Error(body.detail || "HTTP " + response.status);
          });
        }
        input.value = "";
        // ownkey.js's reader (loaded first): the answer's events from the POST's body.
        return window.coolpapersEvents(response.body, "answer", function (data) { show(item, JSON.parse(data)); });
      })
      .catch(function (error) {
        item.answer.textContent = "";
        item.error.textContent = error.message || "The question could not be sent.";
      })
      .finally(function () { button.disabled = false; });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest("form.ask-form") : null;
    if (!form) return;
    event.preventDefault();
    ask(form);
  });

  function init() {
    document.querySelectorAll(".faq-view[id^='faq-view-']:not([hidden])").forEach(sync);
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        if (record.target.classList.contains("faq-view")) sync(record.target);
      });
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["hidden"] });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
