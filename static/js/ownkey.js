// "Your own model": an OpenAI-compatible base URL, key and model name a reader may give in a small
// settings dialog. They are kept only in this browser's localStorage and sent, as X-LLM-Base-URL,
// X-LLM-Key and X-LLM-Model headers, with this reader's generation requests (ask.js reads them through
// window.coolpapersOwnKey.headers(); site.js's toggleKimi opens a FAQ through faqSource()). The server
// uses them for that request only and stores nothing.
(function () {
  "use strict";

  var STORE = "coolpapers.ownModel";

  function load() {
    try {
      var saved = JSON.parse(localStorage.getItem(STORE) || "null");
      return saved && saved.url && saved.model ? saved : null;
    } catch (error) {
      return null;
    }
  }

  function headers() {
    var own = load();
    if (!own) return {};
    var sent = { "X-LLM-Base-URL": own.url, "X-LLM-Model": own.model };
    if (own.key) sent["X-LLM-Key"] = own.key;
    return sent;
  }

  // Calls onEvent(data) for each event named `name` of a text/event-stream body (a POST's: EventSource
  // can only GET); resolves with the last one's data (null when there was none). ask.js reads its
  // answers with it too (window.coolpapersEvents).
  function readEvents(body, name, onEvent) {
    var reader = body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var last = null;
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return last;
        buffer += decoder.decode(chunk.value, { stream: true });
        var blocks = buffer.split("\n\n");
        buffer = blocks.pop();
        blocks.forEach(function (block) {
          var event = "message";
          var data = "";
          block.split("\n").forEach(function (line) {
            if (line.indexOf("event: ") === 0) event = line.slice(7);
            else if (line.indexOf("data: ") === 0) data += line.slice(6);
          });
          if (event === name && data) {
            last = data;
            onEvent(data);
          }
        });
        return pump();
      });
    }
    return pump();
  }

  function failed(message) {
    return JSON.stringify({ status: "failed", answers: [], error: message });
  }

  // A paper's FAQ with the reader's own model: POST {url} with the headers (EventSource can only GET,
  // and cannot send them), its events read from the response body. It answers to the part of
  // EventSource that site.js's toggleKimi uses (addEventListener("summary"), onerror, close), so the
  // FAQ renders as the shared one does. A refusal (a URL the server will not call, a limit) arrives
  // as a failed summary with the server's message. Null when no own model is set.
  function faqSource(url) {
    if (!load()) return null;
    var listeners = [];
    var controller = new AbortController();
    var source = {
      onerror: null,
      addEventListener: function (name, listener) { if (name === "summary") listeners.push(listener); },
      close: function () { controller.abort(); },
    };
    function emit(data) {
      listeners.forEach(function (listener) { listener({ data: data }); });
    }
    fetch(url, { method: "POST", headers: headers(), signal: controller.signal })
      .then(function (response) {
        if (!response.ok) {
          return response.json()
            .catch(function () { return {}; })
            .then(function (body) { emit(failed(body.detail || "this site refused your model (" + response.status + ")")); });
        }
        return readEvents(response.body, "summary", emit).then(function (last) {
          var status = last ? JSON.parse(last).status : "";
          if (status !== "ready" && status !== "failed") emit(failed("the connection closed before the FAQ was written"));
        });
      })
      .catch(function (error) {
        if (error && error.name === "AbortError") return;
        if (source.onerror) source.onerror(error);
      });
    return source;
  }

  window.coolpapersOwnKey = { headers: headers, faqSource: faqSource };
  window.coolpapersEvents = readEvents;

  function field(form, name, label, type, placeholder) {
    var wrap = document.createElement("label");
    wrap.textContent = label + " ";
    var input = document.createElement("input");
    input.name = name;
    input.type = type;
    input.placeholder = placeholder;
    input.maxLength = 500;
    input.autocomplete = "off";
    wrap.append(input);
    form.append(wrap);
    return input;
  }

  function buildDialog() {
    var dialog = document.createElement("dialog");
    dialog.className = "ownkey-dialog";
    dialog.id = "ownkey-dialog";
    var form = document.createElement("form");
    form.method = "dialog";
    var title = document.createElement("h2");
    title.textContent = "Your own model";
    var help = document.createElement("p");
    help.textContent = "An OpenAI-compatible endpoint (https) writes the FAQs you open (when none is written " +
      "yet) and answers your follow-up questions instead of this site's model. The key stays in this browser and is sent only with your own requests; nothing is stored " +
      "on the server, and your answers are not shared with other readers.";
    form.append(title, help);
    var url = field(form, "url", "Base URL", "url", "https://api.example.com/v1");
    var key = field(form, "key", "API key", "password", "sk-…");
    var model = field(form, "model", "Model", "text", "gpt-4o-mini");
    var status = document.createElement("p");
    status.className = "ownkey-status";
    var save = document.createElement("button");
    save.type = "submit";
    save.value = "save";
    save.textContent = "Save";
    var clear = document.createElement("button");
    clear.type = "submit";
    clear.value = "clear";
    clear.textContent = "Forget";
    clear.formNoValidate = true; // forgetting or closing never waits on a valid URL
    var cancel = document.createElement("button");
    cancel.type = "submit";
    cancel.value = "cancel";
    cancel.textContent = "Close";
    cancel.formNoValidate = true;
    form.append(status, save, clear, cancel);
    dialog.append(form);
    dialog.addEventListener("close", function () {
      if (dialog.returnValue === "save" && url.value.trim() && model.value.trim()) {
        var kept = load();
        var secret = key.value.trim() || (kept && kept.key) || "";
        localStorage.setItem(STORE, JSON.stringify({ url: url.value.trim(), key: secret, model: model.value.trim() }));
      } else if (dialog.returnValue === "clear") {
        localStorage.removeItem(STORE);
      }
      key.value = "";
      mark();
    });
    dialog.fill = function () {
      var own = load();
      url.value = own ? own.url : "";
      model.value = own ? own.model : "";
      key.value = "";
      status.textContent = own ? "In use: " + own.model + " at " + own.url + (own.key ? " (key saved; leave blank to keep it)" : "") : "Not set: this site's model answers.";
    };
    return dialog;
  }

  var button;
  function mark() {
    if (button) button.classList.toggle("ownkey-on", !!load());
  }

  function init() {
    var header = document.querySelector(".site-header nav");
    if (!header) return;
    var dialog = buildDialog();
    document.body.append(dialog);
    button = document.createElement("button");
    button.type = "button";
    button.className = "ownkey-toggle";
    button.textContent = "Model";
    button.title = "Use your own OpenAI-compatible model for FAQs and follow-up questions";
    button.addEventListener("click", function () {
      dialog.fill();
      dialog.showModal();
    });
    header.after(button);
    mark();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
