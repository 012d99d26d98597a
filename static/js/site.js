// Cool Papers front-end: math rendering and the inline PDF view. No data is ever evaluated as code:
// titles and abstracts arrive escaped, and KaTeX runs in safe mode (trust: false).
"use strict";

var MATH_OPTIONS = {
  delimiters: [
    { left: "$$", right: "$$", display: true },
    { left: "$", right: "$", display: false },
    { left: "\\(", right: "\\)", display: false },
    { left: "\\[", right: "\\]", display: true },
  ],
  throwOnError: false,
  trust: false,
  strict: "ignore",
  maxExpand: 200,
  maxSize: 20,
};
var MATH_FIELDS = ".title-link, .summary, .faq-a";
var MATH_HINT = /\$|\\\(|\\\[/;
var EAGER_MATH_PAPERS = 40; // more papers than this: their math is rendered as they come into view

// Render the TeX of titles, abstracts and FAQ answers under `root`. Keyword marks are taken out first
// (a formula split by a <mark> would stay raw); "coolpapers:math" tells triage.js to mark again.
function renderMath(root) {
  if (typeof renderMathInElement !== "function") return;
  var done = false;
  root.querySelectorAll(MATH_FIELDS).forEach(function (el) {
    if (!MATH_HINT.test(el.textContent)) return;
    var marks = el.querySelectorAll("mark.kw");
    if (marks.length) {
      marks.forEach(function (mark) { mark.replaceWith(mark.textContent); });
      el.normalize();
    }
    renderMathInElement(el, MATH_OPTIONS);
    done = true;
  });
  if (done) root.dispatchEvent(new CustomEvent("coolpapers:math", { bubbles: true }));
}

// A day of 1,000 papers carries thousands of formulas: rendered all at once they held the page's
// scripts (and so its buttons) for seconds. Papers near the viewport are rendered as they come.
function renderMathLazily(root) {
  var papers = root.querySelectorAll("div.paper");
  if (papers.length <= EAGER_MATH_PAPERS || !("IntersectionObserver" in window)) {
    renderMath(root);
    return;
  }
  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (!entry.isIntersecting) return;
      observer.unobserve(entry.target);
      renderMath(entry.target);
    });
  }, { rootMargin: "1500px 0px" });
  papers.forEach(function (paper) { observer.observe(paper); });
}

// papers.cool's name and signature: the tools built for it call togglePdf(id, url, element).
function togglePdf(id, url, element) {
  var view = document.getElementById("pdf-view-" + id);
  if (!view) return true;
  if (!view.hidden) {
    view.hidden = true;
    view.replaceChildren();
    return false;
  }
  var frame = document.createElement("iframe");
  frame.src = url; // built by the server from a validated arXiv id
  frame.className = "pdf-frame";
  frame.title = "PDF of " + id;
  view.replaceChildren(frame);
  view.hidden = false;
  if (element) element.classList.add("opened");
  countOpen(id, "pdf");
  return false;
}

// The markup keeps papers.cool's onclick="togglePdf(...)" attributes for the tools that read them
// (RSSHub takes the PDF link from it; the CSP allows handler attributes, see app/security.py). The
// page drops them and delegates clicks, so one handler runs, also for markup fetched later.
function adoptInlineHandlers(root) {
  root.querySelectorAll("[onclick]").forEach(function (el) { el.removeAttribute("onclick"); });
}

document.addEventListener("click", function (event) {
  if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
  var pdf = event.target.closest("a.title-pdf");
  if (pdf) {
    event.preventDefault();
    togglePdf(pdf.closest("div.paper").id, pdf.getAttribute("data"), pdf);
    return;
  }
  var kimi = event.target.closest("a.title-kimi");
  if (kimi && kimi.dataset.paper) {
    event.preventDefault();
    toggleKimi(kimi.dataset.paper, kimi);
  }
});

document.addEventListener("DOMContentLoaded", function () {
  adoptInlineHandlers(document);
  renderMathLazily(document);
});

// Count an open of a paper's PDF or FAQ (papers.cool's POST /arxiv/star) and show the new total.
function countOpen(id, key) {
  fetch("/arxiv/star?key=" + key + "&paper=" + encodeURIComponent(id), { method: "POST" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (body) {
      var sup = document.getElementById(key + "-stars-" + id);
      if (body && sup) sup.textContent = String(body.count);
    })
    .catch(function () {});
}

function faqStatusLine(summary) {
  if (summary.status === "pending") {
    return summary.queue_position ? "Queued (" + summary.queue_position + " before it)…" : "Queued…";
  }
  if (summary.status === "running") return "Writing…";
  if (summary.status === "failed") return "The summary could not be written: " + (summary.error || "unknown error");
  return "";
}

// Answers arrive as HTML that the server rendered from Markdown with raw HTML disabled and links
// checked; questions, notes and errors are set as text.
function renderFaq(view, summary) {
  var parts = [];
  if (summary.note) {
    var note = document.createElement("p");
    note.className = "faq-note";
    note.textContent = summary.note;
    parts.push(note);
  }
  summary.answers.forEach(function (item) {
    var box = document.createElement("div");
    box.className = "faq-item";
    var q = document.createElement("h3");
    q.className = "faq-q";
    q.textContent = item.question;
    var a = document.createElement("div");
    a.className = "faq-a";
    a.innerHTML = item.html;
    box.append(q, a);
    parts.push(box);
  });
  var line = faqStatusLine(summary);
  if (line) {
    var status = document.createElement("p");
    status.className = summary.status === "failed" ? "faq-error" : "faq-status";
    status.textContent = line;
    parts.push(status);
  }
  view.replaceChildren.apply(view, parts);
  view.dataset.status = summary.status;
  renderMath(view);
}

// papers.cool's name: the FAQ button opens the summary inline, streamed while it is written.
function toggleKimi(id, element) {
  var view = document.getElementById("faq-view-" + id);
  if (!view) return true;
  if (!view.hidden) {
    view.hidden = true;
    if (view._source) view._source.close();
    return false;
  }
  view.hidden = false;
  if (element) element.classList.add("opened");
  countOpen(id, "kimi");
  if (view.dataset.status === "ready") return false;
  view.textContent = "Loading…";
  var source = new EventSource("/api/v1/papers/" + encodeURIComponent(id) + "/summary?stream=true");
  view._source = source;
  source.addEventListener("summary", function (event) {
    var summary = JSON.parse(event.data);
    renderFaq(view, summary);
    if (summary.status === "ready" || summary.status === "failed") source.close();
  });
  source.onerror = function () {
    source.close();
    if (view.dataset.status !== "ready") {
      fetch("/api/v1/papers/" + encodeURIComponent(id) + "/summary")
        .then(function (r) { return r.json(); })
        .then(function (body) { if (body.answers) renderFaq(view, body); else view.textContent = body.detail || "Unavailable"; })
        .catch(function () { view.textContent = "The summary is unavailable right now."; });
    }
  };
  return false;
}
