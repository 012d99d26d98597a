// Triage in the browser: stars, keywords, "for you", dark mode, copy, long author lists.
// Everything personal stays in localStorage; the server only sees what a request carries.
"use strict";

var Store = {
  get: function (key, fallback) {
    try {
      var raw = localStorage.getItem("coolpapers." + key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) { return fallback; }
  },
  set: function (key, value) {
    try { localStorage.setItem("coolpapers." + key, JSON.stringify(value)); } catch (e) { /* full or off */ }
  },
};

// ---- stars -------------------------------------------------------------------------------
function starredIds() { return Store.get("stars", []); }

function setStarred(id, on) {
  var stars = starredIds().filter(function (s) { return s !== id; });
  if (on) stars.unshift(id);
  Store.set("stars", stars);
  paintStars();
}

function paintStars() {
  var stars = new Set(starredIds());
  document.querySelectorAll("a.title-star").forEach(function (a) {
    var on = stars.has(a.dataset.paper);
    if (a.classList.contains("starred") === on) return; // as served (☆) or as painted: 1,000 writes saved
    a.textContent = on ? "★" : "☆";
    a.classList.toggle("starred", on);
    a.setAttribute("aria-pressed", on ? "true" : "false");
  });
  var count = document.getElementById("stars-count");
  if (count) count.textContent = stars.size ? "(" + stars.size + ")" : "";
}

// Text with each rendered formula back as its TeX source ($...$), not KaTeX's MathML and HTML twice.
function plainText(el) {
  var copy = el.cloneNode(true);
  copy.querySelectorAll(".katex").forEach(function (math) {
    var tex = math.querySelector('annotation[encoding="application/x-tex"]');
    math.replaceWith(tex ? "$" + tex.textContent + "$" : math.textContent);
  });
  return copy.textContent.trim();
}

function paperText(id) {
  var paper = document.getElementById(id);
  if (!paper) return "";
  var title = plainText(paper.querySelector(".title-link"));
  var authors = Array.from(paper.querySelectorAll("a.author")).map(function (a) { return a.textContent; }).join(", ");
  var abstract = plainText(paper.querySelector(".summary"));
  return title + "\n" + authors + "\n\n" + abstract + "\n\nhttps://arxiv.org/abs/" + id + "\n";
}

function copyPaper(id, link) {
  var text = paperText(id);
  var done = function () { link.textContent = "[Copied]"; setTimeout(function () { link.textContent = "[Copy]"; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
  } else { fallbackCopy(text); done(); }
}

function fallbackCopy(text) {
  var area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
  area.remove();
}

// ---- keywords ----------------------------------------------------------------------------
function keywordState() {
  return Store.get("keywords", { include: "", exclude: "", mode: "or", filter: false, open: false });
}

function splitWords(text) {
  return text.split(",").map(function (w) { return w.trim().toLowerCase(); }).filter(Boolean);
}

function escapeRegExp(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

function clearMarks(root) {
  var marks = root.querySelectorAll("mark.kw");
  if (!marks.length) return;
  marks.forEach(function (mark) { mark.replaceWith(document.createTextNode(mark.textContent)); });
  root.normalize();
}

// Wrap matches in text nodes only (never innerHTML): data stays text, KaTeX output is skipped.
function markWords(root, pattern) {
  var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: function (node) {
      return node.parentElement.closest(".katex, mark") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
    },
  });
  var nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  nodes.forEach(function (node) {
    var text = node.nodeValue;
    pattern.lastIndex = 0;
    if (!pattern.test(text)) return;
    pattern.lastIndex = 0;
    var parts = document.createDocumentFragment();
    var last = 0;
    text.replace(pattern, function (match, _g, offset) {
      parts.append(document.createTextNode(text.slice(last, offset)));
      var mark = document.createElement("mark");
      mark.className = "kw";
      mark.textContent = match;
      parts.append(mark);
      last = offset + match.length;
    });
    parts.append(document.createTextNode(text.slice(last)));
    node.replaceWith(parts);
  });
}

function keywordPattern(include) {
  return include.length ? new RegExp("(" + include.map(escapeRegExp).join("|") + ")", "gi") : null;
}

function applyKeywords() {
  var state = keywordState();
  var include = splitWords(state.include);
  var exclude = splitWords(state.exclude);
  var pattern = keywordPattern(include);
  var count = document.getElementById("kw-count");
  if (!include.length && !exclude.length) { // nothing asked: undo an earlier call, leave the rest alone
    clearMarks(document.body);
    document.querySelectorAll("div.paper[hidden], div.paper.kw-match").forEach(function (paper) {
      paper.hidden = false;
      paper.classList.remove("kw-match");
    });
    if (count) count.textContent = "";
    return;
  }
  var shown = 0, total = 0;
  document.querySelectorAll("div.paper").forEach(function (paper) {
    total++;
    var fields = paper.querySelectorAll(".title-link, .summary, .authors");
    fields.forEach(clearMarks);
    var text = Array.from(fields).map(function (f) { return f.textContent.toLowerCase(); }).join(" ");
    var hits = include.filter(function (w) { return text.indexOf(w) >= 0; });
    var matches = include.length === 0 || (state.mode === "and" ? hits.length === include.length : hits.length > 0);
    var excluded = exclude.some(function (w) { return text.indexOf(w) >= 0; });
    if (pattern) fields.forEach(function (f) { markWords(f, pattern); });
    var hide = excluded || (state.filter && !matches);
    paper.hidden = hide;
    paper.classList.toggle("kw-match", include.length > 0 && matches);
    if (!hide) shown++;
  });
  if (count) count.textContent = shown + " / " + total;
}

// site.js took the marks out of fields whose math it just rendered: mark them again.
document.addEventListener("coolpapers:math", function (event) {
  var pattern = keywordPattern(splitWords(keywordState().include));
  if (!pattern || !event.target.querySelectorAll) return;
  event.target.querySelectorAll(".title-link, .summary").forEach(function (field) {
    clearMarks(field);
    markWords(field, pattern);
  });
});

function setupKeywordBar() {
  var bar = document.getElementById("keyword-bar");
  if (!bar) return;
  var state = keywordState();
  var fields = { include: "kw-include", exclude: "kw-exclude", mode: "kw-mode" };
  Object.keys(fields).forEach(function (key) { document.getElementById(fields[key]).value = state[key]; });
  document.getElementById("kw-filter").checked = !!state.filter;
  bar.hidden = !state.open;
  var save = function () {
    var next = keywordState();
    Object.keys(fields).forEach(function (key) { next[key] = document.getElementById(fields[key]).value; });
    next.filter = document.getElementById("kw-filter").checked;
    Store.set("keywords", next);
    applyKeywords();
  };
  bar.addEventListener("input", save);
  bar.addEventListener("change", save);
  bar.addEventListener("submit", function (event) { event.preventDefault(); save(); });
  var toggle = function () {
    var next = keywordState();
    next.open = bar.hidden;
    Store.set("keywords", next);
    bar.hidden = !bar.hidden;
    if (!bar.hidden) document.getElementById("kw-include").focus();
  };
  document.getElementById("kw-toggle").addEventListener("click", toggle);
  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "f") {
      event.preventDefault();
      if (bar.hidden) toggle(); else document.getElementById("kw-include").focus();
    }
  });
  applyKeywords();
}

// ---- "for you": the server ranks what the browser sends, and keeps nothing ---------------------
function rankForYou() {
  var papers = Array.from(document.querySelectorAll("div.papers > div.paper"));
  if (!papers.length) return;
  var body = {
    papers: papers.map(function (p) { return p.id; }),
    stars: starredIds().slice(0, 2000),
    keywords: splitWords(keywordState().include).slice(0, 50),
  };
  fetch("/api/v1/rank", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
    .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
    .then(function (ranked) {
      var byId = new Map(papers.map(function (p) { return [p.id, p]; }));
      var holder = document.createElement("div");
      holder.className = "papers ranked";
      holder.id = "ranked-papers";
      ranked.items.forEach(function (item, index) {
        var paper = byId.get(item.arxiv_id);
        if (!paper) return;
        paper.dataset.score = item.score.toFixed(3);
        var number = paper.querySelector(".index");
        if (number) number.textContent = "#" + (index + 1);
        holder.append(paper);
      });
      var first = document.querySelector("details.section");
      if (first) first.before(holder);
      document.querySelectorAll("details.section").forEach(function (d) { d.hidden = true; });
      document.body.dataset.ranked = "foryou";
    })
    .catch(function () { document.body.dataset.ranked = "failed"; });
}

// ---- authors, theme, stars page ----------------------------------------------------------
function foldAuthors() {
  document.querySelectorAll("p.authors").forEach(function (p) {
    var authors = p.querySelectorAll("a.author");
    if (authors.length <= 12) return;
    var hidden = Array.from(authors).slice(8);
    hidden.forEach(function (a) { a.classList.add("folded"); });
    var more = document.createElement("a");
    more.href = "#";
    more.className = "authors-more";
    more.textContent = " … +" + hidden.length + " more";
    more.addEventListener("click", function (event) {
      event.preventDefault();
      hidden.forEach(function (a) { a.classList.remove("folded"); });
      more.remove();
    });
    p.append(more);
  });
}

function setupTheme() {
  var button = document.getElementById("theme-toggle");
  if (!button) return;
  button.addEventListener("click", function () {
    var dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : window.matchMedia("(prefers-color-scheme: dark)").matches;
    var next = dark ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem("coolpapers.theme", next); } catch (e) { /* session only */ }
  });
}

function loadStarsPage() {
  var holder = document.getElementById("stars-papers");
  if (!holder) return;
  var stars = starredIds();
  document.getElementById("stars-total").textContent = stars.length ? "(" + stars.length + ")" : "";
  if (!stars.length) { document.getElementById("stars-empty").hidden = false; return; }
  var exportLink = document.getElementById("stars-export");
  exportLink.href = "/arxiv/" + stars.map(encodeURIComponent).join(",");
  exportLink.hidden = false;
  var batches = [];
  for (var i = 0; i < stars.length; i += 50) batches.push(stars.slice(i, i + 50));
  batches.reduce(function (chain, batch) {
    return chain.then(function () {
      return fetch("/arxiv/" + batch.map(encodeURIComponent).join(","))
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) {
          // DOMParser builds an inert document: nothing in it runs. Only the papers are moved over.
          var doc = new DOMParser().parseFromString(html, "text/html");
          // Only the starred papers, in star order: a one-paper page also lists related papers.
          batch.forEach(function (id) {
            var p = doc.getElementById(id);
            if (p && p.matches("div.paper") && !document.getElementById(id)) holder.append(document.adoptNode(p));
          });
          adoptInlineHandlers(holder);
        });
    });
  }, Promise.resolve()).then(function () { paintStars(); renderMath(holder); });
}

document.addEventListener("click", function (event) {
  var star = event.target.closest("a.title-star");
  if (star) {
    event.preventDefault();
    setStarred(star.dataset.paper, !star.classList.contains("starred"));
    return;
  }
  var copy = event.target.closest("a.title-copy");
  if (copy) {
    event.preventDefault();
    copyPaper(copy.dataset.paper, copy);
    return;
  }
  var all = event.target.closest("#star-all");
  if (all) {
    all.dataset.papers.split(",").reverse().forEach(function (id) { if (id) setStarred(id, true); });
    all.textContent = "★ Starred";
    return;
  }
  // Opening a paper's PDF or FAQ stars it, as on papers.cool.
  var open = event.target.closest("a.title-pdf, a.title-kimi");
  if (open) {
    var paper = open.closest("div.paper");
    if (paper && starredIds().indexOf(paper.id) < 0) setStarred(paper.id, true);
  }
});

document.addEventListener("DOMContentLoaded", function () {
  paintStars();
  foldAuthors();
  setupTheme();
  setupKeywordBar();
  loadStarsPage();
  if (new URLSearchParams(location.search).get("sort") === "foryou") rankForYou();
});
