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
  // However it was starred (☆, "s", opening its PDF or FAQ, star all): personal.js lifts a dismissal.
  if (on) document.dispatchEvent(new CustomEvent("coolpapers:starred", { detail: id }));
}

function paintStars() {
  var stars = new Set(starredIds());
  document.querySelectorAll(".title-star").forEach(function (a) {
    var on = stars.has(a.dataset.paper);
    if (a.classList.contains("starred") === on) return; // as served (☆) or as painted: 1,000 writes saved
    a.textContent = on ? "★" : "☆";
    a.classList.toggle("starred", on);
    a.setAttribute("aria-pressed", on ? "true" : "false");
  });
  var count = document.getElementById("stars-count");
  if (count) count.textContent = stars.size ? "(" + stars.size + ")" : "";
  paintStarsPageSummary();
}

// On /stars: the count and the export link follow every star and unstar, not only the page load.
function paintStarsPageSummary() {
  var total = document.getElementById("stars-total");
  if (!total) return;
  var stars = starredIds();
  total.textContent = stars.length ? "(" + stars.length + ")" : "";
  var kinds = starsByKind(stars);
  [["stars-export", "/arxiv/", kinds.arxiv], ["stars-export-venue", "/venue/", kinds.venue]].forEach(function (each) {
    var link = document.getElementById(each[0]);
    if (!link) return;
    link.href = each[2].length ? each[1] + each[2].map(encodeURIComponent).join(",") : "#";
    link.hidden = !each[2].length;
  });
  document.getElementById("stars-empty").hidden = stars.length > 0;
}

// Starred arXiv papers and conference papers (papers.cool's venue ids carry "@": `2024.acl-long.1@ACL`)
// live on pages of their own: /arxiv/{ids} refuses a venue id, and a batch holding one was lost whole.
function starsByKind(stars) {
  return {
    arxiv: stars.filter(function (id) { return id.indexOf("@") < 0; }),
    venue: stars.filter(function (id) { return id.indexOf("@") >= 0; }),
  };
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

function copyText(id) {
  var paper = document.getElementById(id);
  if (!paper) return "";
  var title = plainText(paper.querySelector(".title-link"));
  var authors = Array.from(paper.querySelectorAll("a.author")).map(function (a) { return a.textContent; }).join(", ");
  var abstract = plainText(paper.querySelector(".summary"));
  return title + "\n" + authors + "\n\n" + abstract + "\n\nhttps://arxiv.org/abs/" + id + "\n";
}

function copyPaper(id, link) {
  var text = copyText(id);
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

// What the keyword state asks of this page: the words, and whether papers are to be hidden.
function keywordFilter(state) {
  var include = splitWords(state.include);
  var exclude = splitWords(state.exclude);
  return { include: include, exclude: exclude, hides: (state.filter && include.length > 0) || exclude.length > 0 };
}

// A day of 2,000 papers is judged in slices of a few ms, so a keystroke never waits behind it (one
// pass took 700 ms on a slowed CPU); a newer pass (the reader typed on) stops an older one.
var KEYWORD_SLICE_MS = 8;
// Typing: the page follows the keyword bar once the typing pauses. Longer than the gap between a
// typist's keys (150-200 ms): at 150 ms a pass started between two letters, and the next letter
// waited behind it (longest keystroke event 56-96 ms at 4x CPU; 32-40 ms at 250).
var KEYWORD_PAUSE_MS = 250;
var keywordPass = 0;

// Marking is the costly part of a pass (text nodes split, <mark>s made, then style and layout for
// each): on a big day, a pass marks only the papers drawn now, and each other paper when the browser
// draws it (content-visibility: auto's state change). A paper far from the screen is not drawn, so
// its marks are not seen; the counts and the filter still judge every paper's text.
var EAGER_MARK_PAPERS = 40; // as site.js' math: more papers than this are marked as they are drawn
var markPattern = null; // the words of the latest pass, as a RegExp (null: nothing to mark)
var markedWith = new WeakMap(); // paper -> the pattern its marks are of ("" none)
var keywordsPainted = false; // a pass with words has run on this page (marks, [hidden] to undo)

function marksLazily(count) {
  return count > EAGER_MARK_PAPERS && "oncontentvisibilityautostatechange" in document.documentElement &&
    typeof document.documentElement.checkVisibility === "function";
}

// Drawn: its content is not skipped (content-visibility: auto), nor inside something hidden.
function drawn(paper) {
  var inside = paper.firstElementChild;
  return !!inside && inside.checkVisibility({ contentVisibilityAuto: true });
}

function markPaper(paper, pattern, fields) {
  var source = pattern ? pattern.source : "";
  if ((markedWith.get(paper) || "") === source) return;
  (fields || paper.querySelectorAll(".title-link, .summary, .authors")).forEach(function (field) {
    clearMarks(field);
    if (pattern) markWords(field, pattern);
  });
  markedWith.set(paper, source);
}

document.addEventListener("contentvisibilityautostatechange", function (event) {
  var paper = event.target;
  if (event.skipped || !paper.matches || !paper.matches("div.paper")) return;
  markPaper(paper, markPattern);
}, true); // it does not bubble: heard on its way down

function applyKeywords() {
  var pass = ++keywordPass;
  var state = keywordState();
  var asked = keywordFilter(state);
  var include = asked.include, exclude = asked.exclude;
  var pattern = keywordPattern(include);
  var count = document.getElementById("kw-count");
  if (!include.length && !exclude.length) { // nothing asked: undo an earlier call, leave the rest alone
    markPattern = null;
    markedWith = new WeakMap();
    // A page as served has nothing to undo: two scans of a 2,000-paper page saved on every load.
    if (keywordsPainted) {
      clearMarks(document.body);
      document.querySelectorAll("div.paper[hidden], div.paper.kw-match").forEach(function (paper) {
        paper.hidden = false;
        paper.classList.remove("kw-match");
      });
    }
    keywordsPainted = false;
    if (count) count.textContent = "";
    paintFilterNotice(asked, 0, 0);
    return;
  }
  keywordsPainted = true;
  var papers = Array.from(document.querySelectorAll("div.paper"));
  var lazy = marksLazily(papers.length);
  markPattern = pattern;
  // Judging reads text only; the page is changed once, at the end of the pass. Writes between reads
  // made every slice restyle the page (checkVisibility after a class change): a keystroke typed
  // during a pass waited 50-100 ms at 4x CPU behind one slice and its frame.
  var judge = function (paper) {
    var text = paperText(paper);
    var hits = include.filter(function (w) { return text.indexOf(w) >= 0; });
    var matches = include.length === 0 || (state.mode === "and" ? hits.length === include.length : hits.length > 0);
    var excluded = exclude.some(function (w) { return text.indexOf(w) >= 0; });
    return matches && !excluded;
  };
  var verdicts = [];
  var slice = function () {
    if (pass !== keywordPass) return;
    var until = performance.now() + KEYWORD_SLICE_MS;
    while (verdicts.length < papers.length && performance.now() < until) verdicts.push(judge(papers[verdicts.length]));
    if (verdicts.length < papers.length) {
      setTimeout(slice, 0);
      return;
    }
    markKeywordVerdicts(papers, verdicts, pattern, include.length > 0, lazy);
    paintKeywordVerdicts(asked, papers, verdicts);
  };
  setTimeout(slice, 0); // its own task: a keystroke waits behind the list's lookup or one slice, not both
}

// A paper's title, abstract and authors, lower-cased: read once per page (the text a reader types
// against never changes; KaTeX's rendering only adds to it).
var paperTexts = new WeakMap();
function paperText(paper) {
  var text = paperTexts.get(paper);
  if (text === undefined) {
    var fields = paper.querySelectorAll(".title-link, .summary, .authors");
    text = Array.from(fields).map(function (f) { return f.textContent.toLowerCase(); }).join(" ");
    paperTexts.set(paper, text);
  }
  return text;
}

// The bar opened: the reader is about to type. Every paper's text is read now, while the page is
// idle, so the pass after the first word is as quick as the later ones (the first took ~250 ms of
// the 2,000-paper day at 4x CPU reading them; the pause before a pass is longer than typists' gaps).
function readPaperTexts() {
  var papers = Array.from(document.querySelectorAll("div.paper"));
  var next = 0;
  var idle = window.requestIdleCallback || function (work) {
    return setTimeout(function () { work({ timeRemaining: function () { return KEYWORD_SLICE_MS; } }); }, 0);
  };
  var read = function (deadline) {
    while (next < papers.length && deadline.timeRemaining() > 1) paperText(papers[next++]);
    if (next < papers.length) idle(read);
  };
  idle(read);
}

// Abstracts filled in after the page (static/js/abstracts.js): their texts are read again, and the
// keywords judged again when some are asked.
document.addEventListener("coolpapers:abstracts", function (event) {
  event.detail.papers.forEach(function (paper) { paperTexts.delete(paper); });
  var asked = keywordFilter(keywordState());
  if (asked.include.length || asked.exclude.length) applyKeywords();
});

// The pass's writes: which papers are drawn is read first, for all of them (one style update), then
// the drawn ones are marked and each paper's match class set.
function markKeywordVerdicts(papers, verdicts, pattern, including, lazy) {
  var drawnNow = lazy ? papers.map(drawn) : null;
  papers.forEach(function (paper, i) {
    if (!drawnNow || drawnNow[i]) markPaper(paper, pattern);
    paper.classList.toggle("kw-match", including && verdicts[i]);
  });
}

function paintKeywordVerdicts(asked, papers, verdicts) {
  var count = document.getElementById("kw-count");
  var matched = verdicts.filter(Boolean).length;
  // A filter that would leave nothing shows everything and says so: a listing is never silently empty.
  var hiding = asked.hides && matched > 0;
  // The few papers a filter leaves are all drawn next: marked now, with the page that shows them.
  if (hiding && matched <= EAGER_MARK_PAPERS) {
    papers.forEach(function (paper, i) { if (verdicts[i]) markPaper(paper, markPattern); });
  }
  papers.forEach(function (paper, i) { paper.hidden = hiding && !verdicts[i]; });
  // Honest: how many papers match, of how many (not how many are shown).
  if (count) count.textContent = matched + " / " + papers.length;
  paintFilterNotice(asked, matched, papers.length);
}

// "filter on: quantum [clear]", outside the keyword bar, whenever a filter hides papers or would.
function paintFilterNotice(asked, matched, total) {
  var notice = document.getElementById("kw-notice");
  if (!notice) return;
  notice.hidden = !asked.hides;
  if (!asked.hides) return;
  var words = [];
  if (keywordState().filter && asked.include.length) words.push(asked.include.join(", "));
  if (asked.exclude.length) words.push("not " + asked.exclude.join(", "));
  document.getElementById("kw-notice-words").textContent = words.join("; ");
  document.getElementById("kw-notice-count").textContent = matched
    ? matched + " of " + total + " shown"
    : "no paper matches: showing all " + total;
}

function clearKeywords() {
  var next = keywordState();
  next.include = "";
  next.exclude = "";
  next.filter = false;
  Store.set("keywords", next);
  document.getElementById("kw-include").value = "";
  document.getElementById("kw-exclude").value = "";
  document.getElementById("kw-filter").checked = false;
  applyKeywords();
}

// site.js took the marks out of fields whose math it just rendered: mark them again.
document.addEventListener("coolpapers:math", function (event) {
  var pattern = keywordPattern(splitWords(keywordState().include));
  var paper = event.target.matches && event.target.matches("div.paper") ? event.target : null;
  if (paper) { // one paper (rendered as it came near): all its fields, and what it is marked with noted
    markedWith.set(paper, "\u0000"); // unknown now: marked again in full
    markPaper(paper, pattern);
    return;
  }
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
  var pause = 0;
  bar.addEventListener("input", function () {
    clearTimeout(pause);
    pause = setTimeout(save, KEYWORD_PAUSE_MS);
  });
  bar.addEventListener("change", save);
  bar.addEventListener("submit", function (event) { event.preventDefault(); save(); });
  var toggleButton = document.getElementById("kw-toggle");
  var setOpen = function (open) {
    var next = keywordState();
    next.open = open;
    Store.set("keywords", next);
    bar.hidden = !open;
    toggleButton.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      document.getElementById("kw-include").focus();
      readPaperTexts();
    }
  };
  toggleButton.setAttribute("aria-expanded", bar.hidden ? "false" : "true");
  if (!bar.hidden) readPaperTexts();
  toggleButton.addEventListener("click", function () { setOpen(bar.hidden); });
  document.getElementById("kw-clear").addEventListener("click", clearKeywords);
  // "/" opens the bar (as on GitHub or MDN); the browser keeps Ctrl+F. Esc closes it.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !bar.hidden) {
      setOpen(false);
      toggleButton.focus();
      return;
    }
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    event.preventDefault();
    if (bar.hidden) setOpen(true); else document.getElementById("kw-include").focus();
  });
  applyKeywords();
}

// ---- "for you": the server ranks what the browser sends, and keeps nothing ---------------------
function rankForYou() {
  var papers = Array.from(document.querySelectorAll("div.papers > div.paper"));
  if (!papers.length) return;
  var container = papers[0].parentElement;
  var stars = starredIds();
  var keywords = splitWords(keywordState().include);
  var notice = document.getElementById("foryou-notice");
  if (!stars.length && !keywords.length) { // nothing to rank by: say so rather than show arXiv order as "for you"
    if (notice) {
      notice.textContent = "“For you” ranks papers by the ones you star (☆) and your keywords; you have none yet, so this is arXiv order.";
      notice.hidden = false;
    }
    document.body.dataset.ranked = "nostars";
    document.documentElement.classList.remove("ranking");
    return;
  }
  if (notice) { notice.textContent = "Ranking by your " + stars.length + " starred papers…"; notice.hidden = false; }
  // Dismissed papers and negative keywords (personal.js) teach it what the reader does not want.
  var dismissed = Store.get("dismissed", []);
  var negative = splitWords(keywordState().negative || "");
  var body = { papers: papers.map(function (p) { return p.id; }), stars: stars.slice(0, 2000), keywords: keywords.slice(0, 50),
    dismissed: dismissed.slice(0, 2000), negative_keywords: negative.slice(0, 50) };
  fetch("/api/v1/rank", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
    .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
    .then(function (ranked) {
      performance.mark("foryou:answered"); // benchmarks/reading.py reads these two marks
      var byId = new Map(papers.map(function (p) { return [p.id, p]; }));
      var last = new Set(stars.concat(dismissed));
      var holder = document.createElement("div");
      holder.className = "papers ranked";
      holder.id = "ranked-papers";
      // Papers already starred (read) or dismissed go last, after the papers that are like them.
      var order = ranked.items.filter(function (item) { return !last.has(item.arxiv_id); })
        .concat(ranked.items.filter(function (item) { return last.has(item.arxiv_id); }));
      // The holder goes in first and the papers are moved into it with moveBefore where the browser
      // has it: an atomic move, without each paper's whole subtree taken out of the page and put back.
      var first = document.querySelector("details.section");
      var inPage = typeof holder.moveBefore === "function" && (first || container.isConnected);
      if (inPage) (first || container).before(holder); // both in the page: moveBefore's condition
      order.forEach(function (item, index) {
        var paper = byId.get(item.arxiv_id);
        if (!paper) return;
        paper.dataset.score = item.score.toFixed(3);
        // The title is the paper's first lines: found at once, where searching each whole paper (its
        // abstract, authors and math) for a ".why" not yet there cost ~70 ms on a 2,000-paper day.
        var title = paper.querySelector("h2.title");
        var number = title && title.querySelector(".index");
        if (number) number.textContent = "#" + (index + 1);
        paintWhy(paper, item, title);
        if (inPage && paper.isConnected) holder.moveBefore(paper, null); else holder.append(paper);
      });
      if (!inPage && first) first.before(holder);
      else if (!inPage && container.isConnected) container.replaceWith(holder); // a page of ids: no sections
      else if (inPage && !first) container.remove(); // its papers moved out: as replaced
      document.querySelectorAll("details.section").forEach(function (d) { d.hidden = true; });
      if (notice) notice.hidden = true;
      document.body.dataset.ranked = "foryou";
      document.documentElement.classList.remove("ranking"); // early.js held the arXiv order back
      performance.mark("foryou:placed");
    })
    .catch(function () {
      if (notice) notice.textContent = "“For you” could not be ranked right now: this is arXiv order.";
      document.body.dataset.ranked = "failed";
      document.documentElement.classList.remove("ranking");
    });
}

// Why a paper is a pick, under its title: "close to <a starred title>" (text, never markup).
function paintWhy(paper, item, title) {
  var line = Array.prototype.find.call(paper.children, function (child) { return child.classList.contains("why"); });
  var words = item.why && item.why.title ? "close to “" + item.why.title + "”" : item.keyword ? "matches “" + item.keyword + "”" : "";
  if (!words) { if (line) line.remove(); return; }
  if (!line) {
    line = document.createElement("p");
    line.className = "why";
    (title || paper.querySelector("h2.title")).after(line);
  }
  line.textContent = words;
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
  paintStarsPageSummary();
  if (!stars.length) return;
  var batches = [];
  var kinds = starsByKind(stars);
  [["/arxiv/", kinds.arxiv], ["/venue/", kinds.venue]].forEach(function (each) {
    for (var i = 0; i < each[1].length; i += 50) batches.push({ path: each[0], ids: each[1].slice(i, i + 50) });
  });
  batches.reduce(function (chain, group) {
    var batch = group.ids;
    return chain.then(function () {
      return fetch(group.path + batch.map(encodeURIComponent).join(","))
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
  }, Promise.resolve()).then(function () { paintStars(); renderMath(holder); fillCounters(holder); });
}

document.addEventListener("click", function (event) {
  var star = event.target.closest(".title-star");
  if (star) {
    event.preventDefault();
    setStarred(star.dataset.paper, !star.classList.contains("starred"));
    return;
  }
  var copy = event.target.closest(".title-copy");
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

// One tab stop per author list (the first name); Left / Right, Home / End move between the names.
document.addEventListener("keydown", function (event) {
  var author = event.target.closest && event.target.closest("p.authors a.author");
  if (!author) return;
  var names = Array.from(author.parentElement.querySelectorAll("a.author:not(.folded)"));
  var at = names.indexOf(author);
  var to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: names.length - 1 }[event.key];
  if (to === undefined || to < 0 || to >= names.length) return;
  event.preventDefault();
  author.tabIndex = -1;
  names[to].tabIndex = 0;
  names[to].focus();
});

document.addEventListener("DOMContentLoaded", function () {
  paintStars();
  foldAuthors();
  setupTheme();
  setupKeywordBar();
  loadStarsPage();
  askForYouOnce();
});

// "For you" asks the server as soon as the papers are parsed (this deferred script runs then), not
// after every DOMContentLoaded handler: the server ranks while they run.
var forYouAsked = false;
function askForYouOnce() {
  if (forYouAsked) return;
  forYouAsked = true;
  if (new URLSearchParams(location.search).get("sort") === "foryou") rankForYou();
}
if (document.readyState !== "loading") askForYouOnce();
