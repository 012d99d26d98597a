// Reading a long day quickly: keyboard triage (j/k, s, o, f, ?), a titles-only view, abstracts clamped
// with "more", a toolbar that stays on screen, a "new since your last visit" divider, a bar of the
// page's starred papers, and the category picker of the index page. The page's markup is papers.cool's:
// everything here is added beside it, never in place of it. Choices stay in localStorage.
"use strict";

var Reader = (function () {
  var PREFIX = "coolpapers.reader.";
  var CLAMP_MARGIN = "800px 0px"; // abstracts this near the viewport are measured for "more"
  var SEEN_LIMIT = 5000; // ids kept per listing: a day's largest page
  var SEEN_URLS = 20; // listings remembered (a 2,000-paper day is ~25 KB); the oldest is forgotten first

  function load(key, fallback) {
    try {
      var raw = localStorage.getItem(PREFIX + key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) { return fallback; }
  }

  function save(key, value) {
    try { localStorage.setItem(PREFIX + key, JSON.stringify(value)); } catch (e) { /* full or off */ }
  }

  function element(tag, attributes, text) {
    var el = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { el.setAttribute(name, attributes[name]); });
    if (text) el.textContent = text;
    return el;
  }

  function listingPapers() { return Array.from(document.querySelectorAll("div.papers > div.paper")); }

  // Papers a reader can move to: not filtered out by keywords, not in a folded or hidden section.
  function shownPapers() {
    return listingPapers().filter(function (paper) {
      return !paper.hidden && !paper.closest("[hidden], details:not([open])");
    });
  }

  function typing(target) {
    return !!(target && target.closest && target.closest("input, textarea, select, [contenteditable]"));
  }

  // ---- toolbar: sticky, its height known to the papers scrolled under it ---------------------
  function toolbar() { return document.getElementById("toolbar"); }

  function trackToolbar() {
    var bar = toolbar();
    if (!bar) return;
    bar.classList.add("reader-sticky");
    var height = "";
    // Only a new height is written: a property set on <html> restyles every element of the page
    // (2,300 on a 2,000-paper day, ~100 ms at 4x CPU), and the toolbar is re-measured as its keyword
    // count changes under the reader's typing.
    var measure = function () {
      var now = bar.offsetHeight + "px";
      if (now === height) return;
      height = now;
      document.documentElement.style.setProperty("--reader-toolbar-h", now);
    };
    measure();
    if ("ResizeObserver" in window) new ResizeObserver(measure).observe(bar);
  }

  // ---- keyboard triage ------------------------------------------------------------------------
  var current = null;

  function focusPaper(paper) {
    if (current && current !== paper) current.classList.remove("reader-current");
    current = paper;
    paper.classList.add("reader-current");
    if (!paper.hasAttribute("tabindex")) paper.tabIndex = -1;
    // Under the sticky toolbar (scroll-margin-top in reader.css), never behind it.
    paper.scrollIntoView({ block: "start" });
    paper.focus({ preventScroll: true });
    settle(paper, 3);
  }

  // Papers far from the viewport have an estimated height until drawn (content-visibility): drawn
  // as the scroll brings them near, they can push the paper moved to. Put it back for a few frames.
  function settle(paper, frames) {
    window.requestAnimationFrame(function () {
      if (current !== paper) return;
      var bar = toolbar();
      var want = (bar ? bar.getBoundingClientRect().bottom : 0) + 8;
      var off = paper.getBoundingClientRect().top - want;
      if (Math.abs(off) > 2) window.scrollBy(0, off);
      if (frames > 1) settle(paper, frames - 1);
    });
  }

  // The paper to start from: the focused one, else the first whose bottom is below the toolbar.
  function currentPaper(papers) {
    var active = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("div.papers > div.paper") : null;
    if (active && papers.indexOf(active) >= 0) return active;
    if (current && papers.indexOf(current) >= 0) return current;
    return null;
  }

  function firstInView(papers) {
    var bar = toolbar();
    var top = bar ? bar.getBoundingClientRect().bottom : 0;
    return papers.find(function (paper) { return paper.getBoundingClientRect().bottom > top + 1; }) || papers[0];
  }

  function move(step) {
    var papers = shownPapers();
    if (!papers.length) return;
    var from = currentPaper(papers);
    if (!from) { focusPaper(firstInView(papers)); return; }
    var to = papers[papers.indexOf(from) + step];
    if (to) focusPaper(to);
  }

  function press(selector) {
    var papers = shownPapers();
    var paper = currentPaper(papers);
    if (!paper) return;
    var control = paper.querySelector(selector);
    if (control) control.click(); // the same handlers a click runs (site.js, triage.js)
  }

  var KEYS = [
    ["j", "next paper"],
    ["k", "previous paper"],
    ["s", "star or unstar the paper"],
    ["o", "open or close its PDF"],
    ["f", "open or close its FAQ"],
    ["/", "keywords: highlight or filter"],
    ["?", "this list of keys"],
    ["Esc", "close this list, or the keyword bar"],
  ];

  function keysDialog() {
    var dialog = document.getElementById("reader-keys");
    if (dialog) return dialog;
    dialog = element("dialog", { id: "reader-keys", class: "reader-keys", "aria-labelledby": "reader-keys-title" });
    var title = element("h2", { id: "reader-keys-title" }, "Keyboard shortcuts");
    var list = element("dl", { class: "reader-key-list" });
    KEYS.forEach(function (pair) {
      var term = element("dt");
      term.append(element("kbd", {}, pair[0]));
      list.append(term, element("dd", {}, pair[1]));
    });
    var note = element("p", { class: "reader-keys-note" }, "Keys do nothing while you type in a field.");
    var close = element("button", { type: "button", class: "reader-keys-close" }, "Close");
    close.addEventListener("click", function () { dialog.close(); });
    dialog.append(title, list, note, close);
    var opener = null;
    dialog.addEventListener("close", function () { if (opener && opener.focus) opener.focus({ preventScroll: true }); });
    dialog.openFrom = function (from) { opener = from; dialog.showModal(); close.focus(); };
    document.body.append(dialog);
    return dialog;
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target) || document.querySelector("dialog[open]")) return; // Esc: the dialog's own
    var listing = listingPapers().length > 0;
    var action = {
      "?": function () { keysDialog().openFrom(document.activeElement); },
      j: listing && function () { move(1); },
      k: listing && function () { move(-1); },
      s: listing && function () { press(".title-star"); },
      o: listing && function () { press("a.title-pdf"); },
      f: listing && function () { press("a.title-kimi"); },
    }[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  }

  // ---- titles only, and abstracts clamped with "more" ------------------------------------------
  function setCompact(on, button) {
    document.documentElement.classList.toggle("reader-compact", on);
    button.setAttribute("aria-pressed", on ? "true" : "false");
    save("compact", on);
  }

  function addViewToggle() {
    var bar = toolbar();
    if (!bar || !listingPapers().length) return;
    var button = element("button", {
      type: "button", id: "reader-compact", class: "reader-compact-toggle", "aria-pressed": "false",
      title: "show titles only (the choice is kept)",
    }, "titles only");
    var keys = element("button", {
      type: "button", id: "reader-keys-button", class: "reader-keys-button", "aria-haspopup": "dialog",
      "aria-keyshortcuts": "?", title: "keyboard shortcuts (press ?)",
    }, "keys");
    keys.addEventListener("click", function () { keysDialog().openFrom(keys); });
    button.addEventListener("click", function () {
      setCompact(button.getAttribute("aria-pressed") !== "true", button);
    });
    var sorts = bar.querySelector(".sorts");
    (sorts || bar.firstChild).after(button, keys);
    setCompact(!!load("compact", false), button);
  }

  // Abstracts taller than the clamp get a "more" button, measured only when near the viewport (a
  // day's thousand abstracts are not laid out at once: content-visibility).
  // Lists only: a paper's own page shows its whole abstract, its related papers keep site.css' clamp.
  function clampAbstracts() {
    var lists = Array.from(document.querySelectorAll("div.papers")).filter(function (list) {
      return !list.closest(".related") && list.querySelectorAll(":scope > div.paper").length > 1;
    });
    var summaries = [];
    lists.forEach(function (list) {
      list.classList.add("reader-clamp");
      list.querySelectorAll(":scope > div.paper .summary").forEach(function (summary) { summaries.push(summary); });
    });
    if (!summaries.length) return;
    var measure = function (summary) {
      if (summary.dataset.clamp) return;
      if (summary.scrollHeight <= summary.clientHeight + 1) return; // fits: nothing more to show
      summary.dataset.clamp = "1";
      var more = element("button", {
        type: "button", class: "summary-more", "aria-expanded": "false", "aria-controls": summary.id,
      }, "more");
      more.addEventListener("click", function () {
        var open = more.getAttribute("aria-expanded") !== "true";
        summary.classList.toggle("summary-open", open);
        more.setAttribute("aria-expanded", open ? "true" : "false");
        more.textContent = open ? "less" : "more";
      });
      summary.after(more);
    };
    if (!("IntersectionObserver" in window)) { summaries.forEach(measure); return; }
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting) return;
        observer.unobserve(entry.target);
        measure(entry.target);
      });
    }, { rootMargin: CLAMP_MARGIN });
    summaries.forEach(function (summary) { observer.observe(summary); });
    // Titles only hides the abstracts: measure again when they come back.
    document.addEventListener("click", function (event) {
      if (!event.target.closest("#reader-compact")) return;
      summaries.forEach(function (summary) {
        if (summary.dataset.clamp) return;
        observer.unobserve(summary);
        observer.observe(summary);
      });
    });
    // Abstracts filled in after the page (static/js/abstracts.js): measured again, now with their text.
    // A Set: 1,900 abstracts come in at once on a big day, each looked up among 2,000 summaries.
    var clamped = new Set(summaries);
    document.addEventListener("coolpapers:abstracts", function (event) {
      event.detail.papers.forEach(function (paper) {
        var summary = paper.querySelector(".summary");
        if (!summary || summary.dataset.clamp || !clamped.has(summary)) return;
        observer.unobserve(summary);
        observer.observe(summary);
      });
    });
  }

  // ---- "new since your last visit" -------------------------------------------------------------
  // Per listing URL (its path and day; not the sort or the page size), the ids the reader was shown
  // last time. Papers not among them are new: marked, and a divider stands before the first.
  function listingKey() {
    var params = new URLSearchParams(location.search);
    var day = params.get("date");
    return location.pathname + (day ? "?date=" + day : "") + (params.get("skip") ? "&skip=" + params.get("skip") : "");
  }

  function markNewSinceLastVisit() {
    if (!document.querySelector("details.section")) return; // a day's listing, not a search or a paper
    var papers = listingPapers();
    if (!papers.length) return;
    var visits = load("seen", {});
    var key = listingKey();
    var last = visits[key];
    var ids = papers.map(function (paper) { return paper.id; });
    if (last && Array.isArray(last.ids)) {
      var seen = new Set(last.ids);
      var fresh = papers.filter(function (paper) { return !seen.has(paper.id); });
      if (fresh.length) {
        fresh.forEach(function (paper) { paper.classList.add("reader-new"); });
        var when = new Date(last.at);
        var label = fresh.length === papers.length
          ? "All " + fresh.length + " papers are new since your last visit"
          : fresh.length + " new since your last visit";
        var divider = element("div", { class: "reader-new-divider", id: "reader-new-divider", role: "separator",
          "aria-label": label });
        divider.append(element("span", {}, label + (isNaN(when) ? "" : " (" + when.toLocaleString() + ")")));
        fresh[0].before(divider);
      }
    }
    visits[key] = { at: new Date().toISOString(), ids: ids.slice(0, SEEN_LIMIT) };
    var keys = Object.keys(visits).sort(function (a, b) { return String(visits[a].at).localeCompare(String(visits[b].at)); });
    while (keys.length > SEEN_URLS) delete visits[keys.shift()];
    save("seen", visits);
  }

  // ---- the bar of the page's starred papers ------------------------------------------------------
  function starredIds() {
    try { return JSON.parse(localStorage.getItem("coolpapers.stars") || "[]"); } catch (e) { return []; }
  }

  var starBar = null;

  function paintStarBar() {
    var papers = listingPapers();
    if (!papers.length || document.getElementById("stars-papers")) return; // /stars lists only them
    if (!starBar) {
      starBar = element("nav", { id: "reader-starred", class: "reader-starred", "aria-label": "starred on this page" });
      document.body.append(starBar);
    }
    var stars = new Set(starredIds());
    var starred = papers.filter(function (paper) { return stars.has(paper.id); });
    starBar.hidden = !starred.length;
    document.documentElement.classList.toggle("reader-has-starbar", starred.length > 0);
    var label = element("span", { class: "reader-starred-label" }, "★ " + starred.length + " starred here:");
    var list = element("ul");
    starred.forEach(function (paper) {
      var number = paper.querySelector(".index");
      var title = paper.querySelector(".title-link");
      var link = element("a", { href: "#" + paper.id, "data-paper": paper.id, title: title ? title.textContent.trim() : paper.id },
        (number ? number.textContent + " " : "") + (title ? title.textContent.trim() : paper.id));
      var item = element("li");
      item.append(link);
      list.append(item);
    });
    starBar.replaceChildren(label, list);
  }

  var paintQueued = false;
  function queueStarBar() {
    if (paintQueued) return;
    paintQueued = true;
    window.requestAnimationFrame(function () { paintQueued = false; paintStarBar(); });
  }

  function onClick(event) {
    var jump = event.target.closest && event.target.closest("#reader-starred a[data-paper]");
    if (jump && event.button === 0 && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      var paper = document.getElementById(jump.dataset.paper);
      if (paper) {
        event.preventDefault();
        if (paper.closest("details:not([open])")) paper.closest("details").open = true;
        focusPaper(paper);
        history.replaceState(null, "", "#" + paper.id);
      }
      return;
    }
    queueStarBar(); // a star, an unstar, a PDF or FAQ opened (it stars): the bar follows, after them
  }

  // ---- the category picker (index page) ------------------------------------------------------------
  // The chosen categories, [{code, name}], or null: no choice yet, the server's list is shown.
  function chosenCategories() {
    var chosen = load("categories", null);
    return Array.isArray(chosen) ? chosen : null;
  }

  function paintHeaderCategories() {
    var chosen = chosenCategories();
    var header = document.querySelector("header.site-header");
    if (!header) return;
    var nav = document.getElementById("reader-my-categories");
    if (!chosen || !chosen.length) { if (nav) nav.remove(); return; }
    if (!nav) {
      nav = element("nav", { id: "reader-my-categories", class: "reader-my-categories", "aria-label": "your categories" });
      var site = header.querySelector("nav");
      (site || header.firstChild).after(nav);
    }
    nav.replaceChildren.apply(nav, chosen.map(function (cat) {
      var link = element("a", { href: "/arxiv/" + encodeURIComponent(cat.code), title: cat.name }, cat.code);
      if (location.pathname === "/arxiv/" + cat.code) link.setAttribute("aria-current", "page");
      return link;
    }));
  }

  function paintIndexRows() {
    var table = document.querySelector("table.categories tbody");
    if (!table) return;
    var chosen = chosenCategories();
    table.querySelectorAll("tr.reader-chosen-missing").forEach(function (row) { row.remove(); });
    var rows = Array.from(table.querySelectorAll("tr.category"));
    if (!chosen) { rows.forEach(function (row) { row.hidden = false; }); return; }
    var codes = chosen.map(function (cat) { return cat.code; });
    rows.forEach(function (row) { row.hidden = codes.indexOf(row.id.slice("cat-".length)) < 0; });
    chosen.forEach(function (cat) {
      if (document.getElementById("cat-" + cat.code)) return;
      var row = element("tr", { class: "category reader-chosen-missing", "data-category": cat.code });
      var name = element("td");
      name.append(element("a", { href: "/arxiv/" + encodeURIComponent(cat.code) }, cat.code), " ",
        element("span", { class: "cat-name" }, cat.name));
      row.append(name, element("td", {}, "not fetched by this server yet"), element("td", {}, "0"));
      table.append(row);
    });
  }

  function setupPicker() {
    var picker = document.getElementById("cat-picker");
    if (!picker) return;
    picker.hidden = false;
    var boxes = Array.from(picker.querySelectorAll("input[type=checkbox][name=category]"));
    var search = document.getElementById("cat-search");
    var count = document.getElementById("cat-chosen-count");
    var paintBoxes = function () {
      var chosen = chosenCategories();
      var codes = new Set((chosen || []).map(function (cat) { return cat.code; }));
      boxes.forEach(function (box) { box.checked = chosen ? codes.has(box.value) : box.dataset.default === "1"; });
      count.textContent = chosen
        ? chosen.length + " chosen"
        : "showing this server's categories; tick the ones you want";
    };
    var store = function () {
      var chosen = boxes.filter(function (box) { return box.checked; })
        .map(function (box) { return { code: box.value, name: box.dataset.name }; });
      save("categories", chosen);
      paint();
    };
    var paint = function () { paintBoxes(); paintIndexRows(); paintHeaderCategories(); };
    picker.addEventListener("change", function (event) { if (event.target.name === "category") store(); });
    document.getElementById("cat-reset").addEventListener("click", function () {
      try { localStorage.removeItem(PREFIX + "categories"); } catch (e) { /* nothing kept */ }
      paint();
    });
    var filter = function () {
      var words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      boxes.forEach(function (box) {
        var text = (box.value + " " + box.dataset.name + " " + box.dataset.archive).toLowerCase();
        var match = words.every(function (w) { return text.indexOf(w) >= 0; });
        box.closest(".cat-option").hidden = !match;
        if (match) shown += 1;
      });
      picker.querySelectorAll("fieldset.cat-archive").forEach(function (set) {
        set.hidden = !set.querySelector(".cat-option:not([hidden])");
      });
      picker.querySelectorAll(".cat-group").forEach(function (group) {
        group.hidden = !group.querySelector("fieldset.cat-archive:not([hidden])");
      });
      document.getElementById("cat-search-count").textContent = words.length ? shown + " match" : "";
    };
    search.addEventListener("input", filter);
    search.form.addEventListener("submit", function (event) { event.preventDefault(); });
    paint();
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("click", onClick);
  window.addEventListener("storage", function (event) {
    if (event.key === "coolpapers.stars") queueStarBar();
    if (event.key === PREFIX + "categories") { paintHeaderCategories(); paintIndexRows(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    trackToolbar();
    addViewToggle();
    clampAbstracts();
    markNewSinceLastVisit();
    paintStarBar();
    paintHeaderCategories();
    setupPicker();
  });

  return { focusPaper: focusPaper, chosenCategories: chosenCategories };
})();
