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
var mathRendered = new WeakSet(); // papers whose math is rendered (an abstract filled in later is not)

function renderMathLazily(root) {
  var papers = root.querySelectorAll("div.paper");
  if (papers.length <= EAGER_MATH_PAPERS || !("IntersectionObserver" in window)) {
    renderMath(root);
    papers.forEach(function (paper) { mathRendered.add(paper); });
    return;
  }
  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (!entry.isIntersecting) return;
      observer.unobserve(entry.target);
      mathRendered.add(entry.target);
      renderMath(entry.target);
    });
  }, { rootMargin: "1500px 0px" });
  papers.forEach(function (paper) { observer.observe(paper); });
}

// Abstracts filled in after the page (static/js/abstracts.js): the math of those already rendered.
document.addEventListener("coolpapers:abstracts", function (event) {
  event.detail.papers.forEach(function (paper) { if (mathRendered.has(paper)) renderMath(paper); });
});

// papers.cool's name and signature: the tools built for it call togglePdf(id, url, element).
function togglePdf(id, url, element) {
  var view = document.getElementById("pdf-view-" + id);
  if (!view) return true;
  if (!view.hidden) {
    view.hidden = true;
    if (window.PdfView) PdfView.close(view);
    view.replaceChildren();
    if (element) element.setAttribute("aria-expanded", "false");
    return false;
  }
  // PDF.js draws the pages (static/js/pdfview.js: phones show nothing in a PDF iframe); the
  // iframe is left for a page whose viewer script has not loaded.
  if (window.PdfView) {
    PdfView.open(view, id, url);
  } else {
    var frame = document.createElement("iframe");
    frame.src = url; // built by the server from a validated arXiv id
    frame.className = "pdf-frame";
    frame.title = "PDF of " + id;
    view.replaceChildren(frame);
  }
  view.hidden = false;
  if (element) element.setAttribute("aria-expanded", "true");
  if (element) element.classList.add("opened");
  if (!view.dataset.counted) {
    view.dataset.counted = "1";
    countOpen(id, "pdf");
  }
  return false;
}

// The markup keeps papers.cool's onclick="togglePdf(...)" attributes for the tools that read them
// (RSSHub takes the PDF link from it). The CSP forbids running them (no 'unsafe-inline'): the page
// drops them and delegates clicks, so one listener runs, also for markup fetched later. Chromium
// reports a blocked handler only when it would run, so a page that drops them logs nothing.
var ARXIV_PDF = /^https:\/\/(?:[a-z0-9-]+\.)*arxiv\.org\//i;

function adoptInlineHandlers(root) {
  root.querySelectorAll("[onclick]").forEach(function (el) { el.removeAttribute("onclick"); });
}

document.addEventListener("click", function (event) {
  if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
  var pdf = event.target.closest("a.title-pdf");
  if (pdf) {
    event.preventDefault();
    var url = pdf.getAttribute("data");
    // PDF.js may read arXiv's PDFs only (the CSP's connect-src): a conference's opens in a tab of its own.
    if (!ARXIV_PDF.test(url)) window.open(url, "_blank", "noopener");
    else togglePdf(pdf.closest("div.paper").id, url, pdf);
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
  fillCounters(document);
  openFaqSection();
  pollLookups(document.getElementById("lookups"));
});

// A paper's own page has a #faq section: its FAQ view lives there, opened when the URL asks for it.
function openFaqSection() {
  var section = document.getElementById("faq");
  if (!section || !section.dataset.paper) return;
  var id = section.dataset.paper;
  var view = document.getElementById("faq-view-" + id);
  if (!view) return;
  section.append(view);
  if (location.hash === "#faq" && view.hidden) {
    toggleKimi(id, document.getElementById("kimi-" + id));
    section.scrollIntoView();
  }
}

var COUNTERS_PER_REQUEST = 5000; // POST /api/v1/counters' limit: a listing's largest page

// Pages come without the PDF / FAQ counts (the HTML is cached by URL and day; the counts change by
// the minute): one request per page asks for the counts of the papers under `root`. A count already
// set by an open (countOpen) is newer and kept. <html data-counters> says when they are in.
function fillCounters(root) {
  var ids = [];
  root.querySelectorAll("sup[id^='pdf-stars-']").forEach(function (sup) {
    ids.push(sup.id.slice("pdf-stars-".length));
  });
  ids = Array.from(new Set(ids));
  var requests = [];
  for (var i = 0; i < ids.length; i += COUNTERS_PER_REQUEST) {
    requests.push(fetch("/api/v1/counters", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ papers: ids.slice(i, i + COUNTERS_PER_REQUEST) }),
    }).then(function (r) { return r.ok ? r.json() : { items: [] }; }));
  }
  return Promise.all(requests)
    .then(function (pages) {
      pages.forEach(function (page) {
        page.items.forEach(function (item) {
          [["pdf", item.pdf], ["kimi", item.kimi]].forEach(function (pair) {
            var sup = document.getElementById(pair[0] + "-stars-" + item.arxiv_id);
            if (sup && sup.textContent === "") sup.textContent = String(pair[1]);
          });
        });
      });
      document.documentElement.dataset.counters = "filled";
    })
    .catch(function () { document.documentElement.dataset.counters = "failed"; });
}

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

// What the generation is doing, as the server says it: "fetching the PDF (attempt 2 of 5)",
// "question 2 of 6"; and once written, which model wrote it from what.
function faqStatusLine(summary) {
  if (summary.status === "pending") {
    return summary.queue_position ? "Queued (" + summary.queue_position + " before it)…" : "Queued…";
  }
  if (summary.status === "running") {
    var phase = summary.phase || "writing";
    if (phase.indexOf("question") === 0) return "Writing " + phase + "…";
    return phase.charAt(0).toUpperCase() + phase.slice(1) + "…";
  }
  if (summary.status === "failed") return "The summary could not be written: " + (summary.error || "unknown error");
  return "";
}

function faqMetaLine(summary) {
  if (summary.status !== "ready" || summary.extractive || !summary.context) return "";
  var source = summary.context === "abstract"
    ? "the abstract only" + (summary.context_reason ? ", because " + summary.context_reason : "")
    : "the paper's " + summary.context;
  var model = summary.own_model ? "your own model " + summary.model : summary.model;
  return "Written by " + model + " from " + source + " (" + summary.prompt_version + ").";
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
  var meta = faqMetaLine(summary);
  if (meta) {
    var written = document.createElement("p");
    written.className = "faq-meta";
    written.textContent = meta;
    parts.push(written);
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
    if (element) element.setAttribute("aria-expanded", "false");
    if (view._source) view._source.close();
    return false;
  }
  view.hidden = false;
  if (element) {
    element.classList.add("opened");
    element.setAttribute("aria-expanded", "true");
  }
  // An open is counted once per page: reopening it is reading on, and POST /arxiv/star is rate-limited.
  if (!view.dataset.counted) {
    view.dataset.counted = "1";
    countOpen(id, "kimi");
  }
  if (view.dataset.status === "ready") return false;
  view.textContent = "Loading…";
  // The reader's language (static/js/translate.js sets it): each language is its own FAQ.
  var lang = document.documentElement.dataset.faqLang ? "lang=" + encodeURIComponent(document.documentElement.dataset.faqLang) : "";
  var url = "/api/v1/papers/" + encodeURIComponent(id) + "/summary?stream=true" + (lang ? "&" + lang : "");
  // With the reader's own model (ownkey.js), a POST that carries it; else the shared FAQ's stream.
  var own = window.coolpapersOwnKey;
  var source = (own && own.faqSource(url)) || new EventSource(url);
  view._source = source;
  source.addEventListener("summary", function (event) {
    var summary = JSON.parse(event.data);
    renderFaq(view, summary);
    if (summary.status === "ready" || summary.status === "failed") source.close();
  });
  source.onerror = function () {
    source.close();
    if (view.dataset.status !== "ready") {
      fetch("/api/v1/papers/" + encodeURIComponent(id) + "/summary" + (lang ? "?" + lang : ""))
        .then(function (r) { return r.json(); })
        .then(function (body) { if (body.answers) renderFaq(view, body); else view.textContent = body.detail || "Unavailable"; })
        .catch(function () { view.textContent = "The summary is unavailable right now."; });
    }
  };
  return false;
}

// The page of papers still being fetched from arXiv (templates/lookup.html): ask /arxiv/lookup where
// each lookup stands, show its message, and reload once none is pending (the server then answers the
// papers, or says which arXiv does not know or could not be reached). Polls slow down as they go on.
var LOOKUP_POLL_MS = 1000;
var LOOKUP_POLL_MAX_MS = 10000;

function pollLookups(list) {
  if (!list) return;
  var delay = LOOKUP_POLL_MS;
  function ask(item) {
    return fetch("/arxiv/lookup?paper=" + encodeURIComponent(item.dataset.paper), { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : { status: "pending" }; })
      .catch(function () { return { status: "pending" }; })
      .then(function (body) {
        item.dataset.status = body.status;
        if (body.message) item.querySelector(".lookup-message").textContent = body.message;
        return body.status;
      });
  }
  function round() {
    var items = Array.from(list.querySelectorAll("li[data-paper]"));
    Promise.all(items.map(ask)).then(function (states) {
      // "busy": this server had no lookup slot free; asking again later starts one.
      if (states.every(function (s) { return s !== "pending" && s !== "busy"; })) {
        window.location.reload();
        return;
      }
      delay = Math.min(delay * 1.5, LOOKUP_POLL_MAX_MS);
      window.setTimeout(round, delay);
    });
  }
  window.setTimeout(round, delay);
}
