// The personal loop in the browser: "not interested", negative keywords, followed authors, and sync of
// all of it (with the stars and keywords of triage.js) through a profile under a secret link.
// Uses triage.js's Store, starredIds, keywordState, splitWords, paintStars and applyKeywords.
"use strict";

// ---- dismissals ("not interested") -----------------------------------------------------------
function dismissedIds() { return Store.get("dismissed", []); }

function setDismissed(id, on) {
  var ids = dismissedIds().filter(function (d) { return d !== id; });
  if (on) ids.unshift(id);
  Store.set("dismissed", ids);
  if (on && starredIds().indexOf(id) >= 0) setStarred(id, false); // one verdict per paper
  paintDismissed();
}

function paintDismissed() {
  var dismissed = new Set(dismissedIds());
  document.querySelectorAll(".title-dismiss").forEach(function (button) {
    var on = dismissed.has(button.dataset.paper);
    if (button.classList.contains("dismissed") === on) return;
    button.classList.toggle("dismissed", on);
    button.setAttribute("aria-pressed", on ? "true" : "false");
    var paper = button.closest("div.paper");
    if (paper) paper.classList.toggle("dismissed", on);
  });
}

// One verdict per paper: a star, however given, takes the dismissal back.
document.addEventListener("coolpapers:starred", function (event) {
  if (dismissedIds().indexOf(event.detail) >= 0) setDismissed(event.detail, false);
});

// ---- negative keywords: words "for you" ranks down (the exclude field hides; this one only weighs) ----
function setupNegativeKeywords() {
  var field = document.getElementById("kw-negative");
  if (!field) return;
  field.value = keywordState().negative || "";
  field.addEventListener("input", function () {
    var next = keywordState(); // triage.js saves its own fields over this state and keeps the others
    next.negative = field.value;
    Store.set("keywords", next);
  });
}

function negativeKeywords() { return splitWords(keywordState().negative || ""); }

// ---- followed authors: marked on every paper, a filter, and the author page's button ----------------
function followedAuthors() { return Store.get("authors", []); }

function foldName(name) { return name.split(/\s+/).join(" ").trim().toLowerCase(); }

function setFollowed(name, on) {
  var wanted = foldName(name);
  var names = followedAuthors().filter(function (n) { return foldName(n) !== wanted; });
  if (on) names.unshift(name.split(/\s+/).join(" ").trim());
  Store.set("authors", names);
  paintFollowed();
  var status = document.getElementById("follow-status");
  if (status) status.textContent = (on ? "Following " : "No longer following ") + name;
}

function paintFollowed() {
  var followed = new Set(followedAuthors().map(foldName));
  // Nobody followed and no mark to take off (a page as served): the names need no look. A 2,000-paper
  // day has ~10,000 of them, read while "for you"'s answer waits for the page's scripts.
  var nothing = !followed.size && !document.querySelector("a.author.followed, div.paper.by-followed");
  if (!nothing) document.querySelectorAll("div.paper").forEach(function (paper) {
    var any = false;
    paper.querySelectorAll("a.author").forEach(function (a) {
      var on = followed.has(foldName(a.textContent));
      any = any || on;
      if (a.classList.contains("followed") !== on) {
        a.classList.toggle("followed", on);
        // Said in words, not only by the mark: the name's title and accessible description.
        if (on) a.title = "followed (press f to unfollow)"; else a.removeAttribute("title");
      }
    });
    paper.classList.toggle("by-followed", any);
  });
  var button = document.getElementById("author-follow");
  if (button) {
    var on = followed.has(foldName(button.dataset.author));
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = (on ? "Following " : "Follow ") + button.dataset.author;
  }
  applyFollowedFilter();
}

// "followed authors only": a class on the listing, so it never fights the keyword filter's [hidden].
function applyFollowedFilter() {
  var box = document.getElementById("kw-followed");
  if (!box) return;
  var papers = document.querySelectorAll("div.paper");
  var followedHere = document.querySelectorAll("div.paper.by-followed").length;
  // As the keyword filter: a filter that would leave nothing shows everything, and says so.
  var on = box.checked && followedHere > 0;
  document.body.classList.toggle("only-followed", on);
  var count = document.getElementById("kw-followed-count");
  if (!count) {
    count = document.createElement("span");
    count.id = "kw-followed-count";
    count.className = "kw-count";
    box.parentElement.after(count);
  }
  count.textContent = !box.checked ? "" : followedHere ? followedHere + " / " + papers.length
    : "no paper here by a followed author: showing all";
  // Said outside the bar too: the filter stays on, on every listing, after the bar is closed.
  var notice = document.getElementById("followed-notice");
  if (notice) {
    notice.hidden = !on;
    document.getElementById("followed-notice-count").textContent = followedHere + " of " + papers.length + " shown";
  }
}

function setupFollowFilter() {
  var box = document.getElementById("kw-followed");
  if (!box) return;
  box.checked = !!Store.get("followed-only", false);
  box.addEventListener("change", function () {
    Store.set("followed-only", box.checked);
    applyFollowedFilter();
  });
  var clear = document.getElementById("followed-clear");
  if (clear) clear.addEventListener("click", function () {
    box.checked = false;
    Store.set("followed-only", false);
    applyFollowedFilter();
  });
}

// ---- sync: a profile on the server, per item newest wins (a removal is a dated tombstone) -------------
var KINDS = ["stars", "dismissals", "keywords", "negative_keywords", "categories", "authors"];
var ARXIV_OR_VENUE_ID = /^(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Za-z-]+)?\/\d{7}|[A-Za-z0-9][A-Za-z0-9._@-]{0,179}@(OpenReview|ACL|PMLR|CVF|NeurIPS))$/;
var PUSH_DELAY_MS = 1500;

function syncState() {
  var state = Store.get("sync", null);
  if (!state || typeof state !== "object") state = {};
  if (!state.items) state.items = {};
  KINDS.forEach(function (kind) { if (!state.items[kind]) state.items[kind] = {}; });
  return state;
}

function oneSpelling(kind, value) {
  var text = String(value).split(/\s+/).join(" ").trim();
  return kind === "keywords" || kind === "negative_keywords" ? text.toLowerCase() : text;
}

// Followed categories are reader.js's choice on the index page: [{code, name}], or null for "none
// chosen yet, this server's list" (then nothing is synced, and nothing is written unless the profile has some).
function chosenCategoryCodes() {
  var chosen = Store.get("reader.categories", null);
  return Array.isArray(chosen) ? chosen.map(function (c) { return c && c.code; }).filter(Boolean) : [];
}

function writeCategories(state) {
  var chosen = Store.get("reader.categories", null);
  var current = chosenCategoryCodes();
  var merged = liveValues(state, "categories", current);
  var codes = merged.kept.concat(merged.added);
  if (codes.length === current.length && merged.added.length === 0) return; // unchanged: keep null as null
  var names = {};
  (Array.isArray(chosen) ? chosen : []).forEach(function (c) { if (c && c.code) names[c.code] = c.name; });
  Store.set("reader.categories", codes.map(function (code) { return { code: code, name: names[code] || code }; }));
}

// What this browser holds now, in the server's spelling (what it would refuse is left out).
function localItems() {
  var kw = keywordState();
  var raw = {
    stars: starredIds(), dismissals: dismissedIds(),
    keywords: splitWords(kw.include || ""), negative_keywords: negativeKeywords(),
    categories: chosenCategoryCodes(), authors: followedAuthors(),
  };
  var items = {};
  KINDS.forEach(function (kind) {
    items[kind] = raw[kind].map(function (v) { return oneSpelling(kind, v); }).filter(function (v) {
      if (!v || v.length > 200) return false;
      if (kind === "categories") return /^[a-z-]+(\.[A-Za-z-]+)?$/.test(v);
      return kind === "stars" || kind === "dismissals" ? ARXIV_OR_VENUE_ID.test(v) : true;
    });
  });
  return items;
}

// Date every change since the last look: an item that appeared is added now, one that went is a
// tombstone now. Returns whether anything changed.
function noteLocalChanges(state) {
  var now = new Date().toISOString();
  var held = localItems();
  var changed = false;
  KINDS.forEach(function (kind) {
    var known = state.items[kind];
    var here = new Set(held[kind]);
    here.forEach(function (value) {
      if (!known[value] || known[value].removed) { known[value] = { at: now, removed: false }; changed = true; }
    });
    Object.keys(known).forEach(function (value) {
      if (!known[value].removed && !here.has(value)) { known[value] = { at: now, removed: true }; changed = true; }
    });
  });
  if (changed) Store.set("sync", state);
  return changed;
}

function newer(a, b) { // as the server decides: the later time; at the same time, the removal
  var ta = Date.parse(a.at), tb = Date.parse(b.at);
  return ta !== tb ? ta > tb : (a.removed && !b.removed);
}

// Take the server's copy into this browser: per item, the newer change wins. Returns whether this
// browser holds something newer than the server (then it is sent back).
function mergeRemote(state, profile) {
  var aheadOfServer = false;
  KINDS.forEach(function (kind) {
    var known = state.items[kind];
    var remote = {};
    (profile.items[kind] || []).forEach(function (item) {
      remote[item.value] = { at: item.updated_at, removed: item.removed };
    });
    // Where both say the same, the server's time is kept: it clamps times ahead of its clock, and a
    // browser whose clock runs fast would otherwise find itself "newer" on every page.
    Object.keys(remote).forEach(function (value) {
      var mine = known[value], theirs = remote[value];
      if (!mine || newer(theirs, mine) || !!mine.removed === !!theirs.removed) known[value] = theirs;
    });
    Object.keys(known).forEach(function (value) {
      if (!remote[value] || newer(known[value], remote[value])) aheadOfServer = true;
    });
  });
  Store.set("sync", state);
  writeLocal(state);
  return aheadOfServer;
}

function liveValues(state, kind, current) {
  var known = state.items[kind];
  var live = Object.keys(known).filter(function (v) { return !known[v].removed; });
  var kept = current.filter(function (v) { return live.indexOf(oneSpelling(kind, v)) >= 0; });
  var keptSpelling = new Set(kept.map(function (v) { return oneSpelling(kind, v); }));
  var added = live.filter(function (v) { return !keptSpelling.has(v); })
    .sort(function (a, b) { return Date.parse(known[b].at) - Date.parse(known[a].at); });
  return { kept: kept, added: added };
}

// Write the merged state where triage.js and this file keep it, then paint it.
function writeLocal(state) {
  var stars = liveValues(state, "stars", starredIds());
  Store.set("stars", stars.added.concat(stars.kept)); // newest first, as triage.js keeps them
  var dismissed = liveValues(state, "dismissals", dismissedIds());
  Store.set("dismissed", dismissed.added.concat(dismissed.kept));
  var authors = liveValues(state, "authors", followedAuthors());
  Store.set("authors", authors.added.concat(authors.kept));
  writeCategories(state);
  var kw = keywordState();
  var include = liveValues(state, "keywords", splitWords(kw.include || ""));
  var negative = liveValues(state, "negative_keywords", negativeKeywords());
  kw.include = include.kept.concat(include.added).join(", ");
  kw.negative = negative.kept.concat(negative.added).join(", ");
  Store.set("keywords", kw);
  var fields = { "kw-include": kw.include, "kw-negative": kw.negative };
  Object.keys(fields).forEach(function (id) {
    var field = document.getElementById(id);
    if (field && document.activeElement !== field) field.value = fields[id];
  });
  paintStars();
  paintDismissed();
  paintFollowed();
  applyKeywords();
}

function profileBody(state) {
  var items = {};
  KINDS.forEach(function (kind) {
    var known = state.items[kind];
    items[kind] = Object.keys(known).map(function (value) {
      return { value: value, updated_at: known[value].at, removed: !!known[value].removed };
    });
  });
  return JSON.stringify({ items: items });
}

function profileUrl(token) { return "/api/v1/profiles/" + encodeURIComponent(token); }

function syncStatus(text) {
  var status = document.getElementById("sync-status");
  if (status) status.textContent = text;
}

var pushTimer = null;

function pushNow(keepalive) {
  if (pushTimer) { clearTimeout(pushTimer); pushTimer = null; }
  var state = syncState();
  if (!state.token) return Promise.resolve();
  document.body.dataset.sync = "pushing";
  return fetch(profileUrl(state.token), {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: profileBody(state), keepalive: !!keepalive,
  })
    .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
    .then(function (profile) {
      var now = syncState();
      if (now.token === state.token) mergeRemote(now, profile);
      document.body.dataset.sync = "synced";
      syncStatus("Synced.");
    })
    .catch(function (status) { syncFailed(state.token, status); });
}

function syncFailed(token, status) {
  document.body.dataset.sync = "failed";
  if (status === 404) { // revoked on another device: this browser stops syncing, and keeps its copy
    var state = syncState();
    if (state.token === token) { delete state.token; Store.set("sync", state); }
    syncStatus("The sync link was revoked: this browser no longer syncs.");
    paintSyncDialog(null);
    return;
  }
  syncStatus("Sync failed for now (" + status + "): it is tried again on the next change or page.");
}

function schedulePush() {
  if (!syncState().token) return;
  if (pushTimer) clearTimeout(pushTimer);
  pushTimer = setTimeout(function () { pushNow(false); }, PUSH_DELAY_MS);
}

// On every page: read the profile, merge it, and send back what this browser holds newer.
function pullOnLoad() {
  var state = syncState();
  noteLocalChanges(state);
  if (!state.token) return;
  document.body.dataset.sync = "pulling";
  fetch(profileUrl(state.token))
    .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
    .then(function (profile) {
      var now = syncState();
      if (now.token !== state.token) return;
      if (mergeRemote(now, profile)) return pushNow(false);
      document.body.dataset.sync = "synced";
    })
    .catch(function (status) { syncFailed(state.token, status); });
}

// A sync link opened here (`/#sync=<token>`): its token, taken out of the address bar and history.
// It is not adopted before the reader says so (askToAdopt): a link someone else made would send
// this browser's stars and follows to them, from then on.
function linkToken() {
  var match = /^#sync=([A-Za-z0-9_-]{20,100})$/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return match[1] === syncState().token ? null : match[1];
}

function askToAdopt(token) {
  var dialog = document.getElementById("sync-dialog");
  if (!dialog) return;
  var ask = document.getElementById("sync-ask");
  ["sync-off", "sync-new", "sync-on"].forEach(function (id) { document.getElementById(id).hidden = true; });
  document.getElementById("sync-replaces").hidden = !syncState().token;
  ask.hidden = false;
  document.getElementById("sync-accept").onclick = function () {
    var state = syncState();
    state.token = token;
    Store.set("sync", state);
    ask.hidden = true;
    paintSyncDialog(null);
    syncStatus("This browser now syncs with the link.");
    pullOnLoad();
  };
  document.getElementById("sync-decline").onclick = function () { dialog.close(); };
  dialog.addEventListener("close", function () { ask.hidden = true; }, { once: true });
  syncStatus("");
  dialog.showModal();
}

function createProfile() {
  syncStatus("Creating a sync link…");
  fetch("/api/v1/profiles", { method: "POST" })
    .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
    .then(function (created) {
      var state = syncState();
      state.token = created.token;
      noteLocalChanges(state);
      Store.set("sync", state);
      paintSyncDialog(created.token);
      return pushNow(false);
    })
    .catch(function (status) { syncStatus("Could not create a sync link (" + status + ")."); });
}

function revokeProfile() {
  var state = syncState();
  if (!state.token) return;
  fetch(profileUrl(state.token), { method: "DELETE" })
    .then(function (r) {
      if (!r.ok && r.status !== 404) return Promise.reject(r.status);
      var now = syncState();
      delete now.token;
      Store.set("sync", now);
      paintSyncDialog(null);
      syncStatus("The link is revoked: the server forgot the profile. This browser keeps its copy.");
    })
    .catch(function (status) { syncStatus("Could not revoke the link (" + status + ")."); });
}

// `justCreated`: the new token, shown this once as a link and a QR code.
function paintSyncDialog(justCreated) {
  var dialog = document.getElementById("sync-dialog");
  if (!dialog) return;
  var token = syncState().token;
  document.getElementById("sync-off").hidden = !!token;
  document.getElementById("sync-on").hidden = !token;
  document.getElementById("sync-new").hidden = !justCreated;
  document.getElementById("sync-export").href = token ? profileUrl(token) : "#";
  if (justCreated) {
    document.getElementById("sync-link").value = location.origin + "/#sync=" + justCreated;
    var img = document.createElement("img");
    img.alt = "QR code of the sync link";
    img.width = img.height = 200;
    img.src = profileUrl(justCreated) + "/qr.svg";
    document.getElementById("sync-qr").replaceChildren(img);
  } else {
    document.getElementById("sync-link").value = "";
    document.getElementById("sync-qr").replaceChildren();
  }
}

function setupSyncDialog() {
  var dialog = document.getElementById("sync-dialog");
  var open = document.getElementById("sync-open");
  if (!dialog || !open) return;
  paintSyncDialog(null);
  open.addEventListener("click", function () { syncStatus(""); dialog.showModal(); });
  document.getElementById("sync-create").addEventListener("click", createProfile);
  document.getElementById("sync-revoke").addEventListener("click", revokeProfile);
  document.getElementById("sync-copy").addEventListener("click", function () {
    var link = document.getElementById("sync-link");
    link.select();
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(link.value).catch(function () {});
    else { try { document.execCommand("copy"); } catch (e) { /* selected: the reader copies it */ } }
    syncStatus("Link selected" + (window.isSecureContext ? " and copied." : ": copy it."));
  });
  // Leaving the dialog forgets the link shown: it is not shown again.
  dialog.addEventListener("close", function () { paintSyncDialog(null); });
}

// Any click, key or edit may have changed what is kept (triage.js's handlers run first): date it,
// and send it a moment later, once for a burst of changes.
function afterAnyChange() {
  setTimeout(function () { if (noteLocalChanges(syncState())) schedulePush(); }, 0);
}

document.addEventListener("click", function (event) {
  var dismiss = event.target.closest(".title-dismiss");
  if (dismiss) {
    event.preventDefault();
    setDismissed(dismiss.dataset.paper, !dismiss.classList.contains("dismissed"));
  } else if (event.target.closest("#author-follow")) {
    var button = event.target.closest("#author-follow");
    setFollowed(button.dataset.author, button.getAttribute("aria-pressed") !== "true");
  }
  afterAnyChange();
});

// "f" on a focused author name follows or unfollows them: no extra tab stop per author. Captured,
// so that it comes before reader.js's "f" (open the paper's FAQ), which skips a handled key.
document.addEventListener("keydown", function (event) {
  var author = event.target.closest && event.target.closest("p.authors a.author");
  if (!author || event.key !== "f" || event.ctrlKey || event.metaKey || event.altKey) return;
  event.preventDefault();
  setFollowed(author.textContent, !author.classList.contains("followed"));
  afterAnyChange();
}, true);

// Typed words count when the field is left (its change event): a tombstone per keystroke would not do.
document.addEventListener("input", function (event) { if (event.target.type !== "text") afterAnyChange(); });
document.addEventListener("change", afterAnyChange);
window.addEventListener("storage", function (event) { // another tab changed something
  if (event.key && event.key.indexOf("coolpapers.") === 0 && event.key !== "coolpapers.sync") afterAnyChange();
});
// Leaving the page: send what is pending, and words typed in a field that was never left.
window.addEventListener("pagehide", function () {
  var typed = noteLocalChanges(syncState());
  if ((typed && syncState().token) || pushTimer) pushNow(true);
});

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("p.authors a.author").forEach(function (a) { a.setAttribute("aria-keyshortcuts", "f"); });
  var live = document.createElement("p");
  live.id = "follow-status";
  live.className = "visually-hidden";
  live.setAttribute("role", "status");
  document.body.append(live);
  setupNegativeKeywords();
  setupFollowFilter();
  paintDismissed();
  paintFollowed();
  var opened = linkToken();
  setupSyncDialog();
  pullOnLoad();
  if (opened) askToAdopt(opened);
});
