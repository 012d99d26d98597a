// The [PDF] toggle's viewer: PDF.js (vendored from npm, static/vendor/pdfjs) draws the pages inside the
// paper. Phones show nothing for a PDF in an iframe; a canvas they show. PDF.js is loaded on the first
// open only (half a megabyte, and a worker of 1.2 MB that the browser caches), never with the page.
// Where the PDF cannot be read from here (arXiv's CORS headers, a network error), the viewer says
// why; the "open in a new tab" link is always there and always works. Each drawn page carries PDF.js'
// text layer (transparent text over the canvas: the reader selects, copies and finds in it, and a
// screen reader reads it), and the bar zooms from half the viewer's width to three times it.
"use strict";

var PdfView = (function () {
  var script = document.currentScript;
  var LIBRARY = script.dataset.pdfjs; // hashed URLs, set by base.html
  var WORKER = script.dataset.worker;
  var ASSETS = "/static/vendor/pdfjs/"; // fonts, character maps, JS image decoders
  var PAGE_MARGIN = "1500px 0px"; // pages this near the visible part of the viewer are drawn
  var MAX_PIXEL_RATIO = 2; // sharper than this costs memory a phone does not have
  var MAX_CANVAS_PIXELS = 16777216; // 4096 x 4096: past this a phone's canvas draws blank
  var ZOOMS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3]; // of the viewer's width; 1 is "fit width"
  var FIT = ZOOMS.indexOf(1);
  var library = null;

  function load() {
    if (!library) {
      library = import(LIBRARY).then(function (pdfjs) {
        pdfjs.GlobalWorkerOptions.workerSrc = WORKER;
        return pdfjs;
      });
      library.catch(function () { library = null; }); // a failed load is tried again on the next open
    }
    return library;
  }

  function element(tag, className, text) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    if (text) el.textContent = text;
    return el;
  }

  // Why a PDF could not be shown, in the reader's words (PDF.js' own messages name its internals).
  function reason(error) {
    var name = error && error.name;
    if (name === "InvalidPDFException") return "the file is not a valid PDF";
    if (name === "ResponseException" && error.status) return "the server answered " + error.status;
    if (name === "PasswordException") return "the PDF is protected by a password";
    return "this page is not allowed to read it from arXiv, or the network failed";
  }

  function drawPage(doc, holder, number, state) {
    var generation = state.generation; // a zoom since makes this drawing out of date
    return doc.getPage(number).then(function (page) {
      if (state.closed || state.generation !== generation) return null;
      var base = page.getViewport({ scale: 1 });
      var scale = (holder.clientWidth || base.width) / base.width; // CSS pixels per PDF point
      var viewport = page.getViewport({ scale: scale });
      var ratio = Math.min(window.devicePixelRatio || 1, MAX_PIXEL_RATIO);
      ratio = Math.min(ratio, Math.sqrt(MAX_CANVAS_PIXELS / (viewport.width * viewport.height)));
      var canvas = element("canvas", "pdf-canvas");
      canvas.width = Math.floor(viewport.width * ratio);
      canvas.height = Math.floor(viewport.height * ratio);
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", "Page " + number + " of " + doc.numPages);
      var task = page.render({
        canvas: canvas,
        canvasContext: canvas.getContext("2d"),
        viewport: page.getViewport({ scale: scale * ratio }),
      });
      state.tasks.add(task);
      return task.promise.then(function () {
        state.tasks.delete(task);
        if (state.closed || state.generation !== generation) return null;
        var text = element("div", "textLayer");
        // The text layer sizes its letters from this (PDF.js' viewer sets it on its pages).
        holder.style.setProperty("--total-scale-factor", String(scale));
        holder.replaceChildren(canvas, text);
        holder.style.aspectRatio = "";
        holder.dataset.drawn = "1";
        var layer = new state.pdfjs.TextLayer({
          textContentSource: page.streamTextContent(),
          container: text,
          viewport: viewport,
        });
        state.layers.add(layer);
        return layer.render().then(
          function () { state.layers.delete(layer); page.cleanup(); },
          function () { state.layers.delete(layer); } // cancelled by a zoom or a close: nothing to say
        );
      });
    });
  }

  // One box per page, sized from the first page (most papers keep one size); each is drawn when it
  // comes near the viewport, so a 60-page PDF costs what the reader looks at.
  function layOut(view, doc, state) {
    return doc.getPage(1).then(function (first) {
      var size = first.getViewport({ scale: 1 });
      var pages = element("div", "pdf-pages"); // scrolls on its own (reader.css): the listing stays short
      pages.tabIndex = 0; // a scrolling region is reached and scrolled with the keyboard too
      pages.setAttribute("role", "region");
      pages.setAttribute("aria-label", "PDF pages");
      state.pages = pages;
      state.observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting) draw(doc, entry.target, state);
        });
      }, { root: pages, rootMargin: PAGE_MARGIN });
      for (var n = 1; n <= doc.numPages; n += 1) {
        var holder = element("div", "pdf-page");
        holder.dataset.page = String(n);
        holder.style.aspectRatio = size.width + " / " + size.height;
        pages.append(holder);
      }
      view.append(pages);
      observeAll(state);
      return doc.numPages;
    });
  }

  function draw(doc, holder, state) {
    state.observer.unobserve(holder);
    var number = Number(holder.dataset.page);
    drawPage(doc, holder, number, state).catch(function (error) {
      var cancelled = error && error.name === "RenderingCancelledException";
      if (!state.closed && !cancelled) holder.textContent = "Page " + number + " could not be drawn.";
    });
  }

  function observeAll(state) {
    state.pages.querySelectorAll(".pdf-page").forEach(function (holder) { state.observer.observe(holder); });
  }

  // A new zoom: every page box takes its new width at once (an empty box keeps its page's shape), the
  // place read stays in view, and the pages near it are drawn again at the new size.
  function zoomTo(state, index) {
    var pages = state.pages;
    if (!pages || index < 0 || index >= ZOOMS.length || index === state.zoom) return;
    var place = pages.scrollTop / Math.max(pages.scrollHeight, 1);
    state.zoom = index;
    state.generation += 1;
    state.tasks.forEach(function (task) { task.cancel(); });
    state.layers.forEach(function (layer) { layer.cancel(); });
    state.observer.disconnect();
    pages.querySelectorAll(".pdf-page").forEach(function (holder) {
      var canvas = holder.querySelector("canvas");
      if (canvas) holder.style.aspectRatio = canvas.width + " / " + canvas.height;
      holder.replaceChildren();
      delete holder.dataset.drawn;
      holder.style.width = ZOOMS[index] * 100 + "%";
    });
    pages.scrollTop = place * pages.scrollHeight;
    observeAll(state);
    var level = state.bar.querySelector(".pdf-zoom-level");
    level.textContent = index === FIT ? "fit width" : Math.round(ZOOMS[index] * 100) + "%";
    state.bar.querySelector(".pdf-zoom-out").disabled = index === 0;
    state.bar.querySelector(".pdf-zoom-in").disabled = index === ZOOMS.length - 1;
    state.bar.querySelector(".pdf-zoom-fit").disabled = index === FIT;
  }

  function zoomControls(state) {
    var group = element("span", "pdf-zoom");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Zoom");
    var out = element("button", "pdf-zoom-out", "\u2212");
    out.type = "button";
    out.setAttribute("aria-label", "Zoom out");
    var level = element("span", "pdf-zoom-level", "fit width");
    level.setAttribute("aria-live", "polite");
    var into = element("button", "pdf-zoom-in", "+");
    into.type = "button";
    into.setAttribute("aria-label", "Zoom in");
    var fit = element("button", "pdf-zoom-fit", "Fit width");
    fit.type = "button";
    fit.disabled = true;
    out.addEventListener("click", function () { zoomTo(state, state.zoom - 1); });
    into.addEventListener("click", function () { zoomTo(state, state.zoom + 1); });
    fit.addEventListener("click", function () { zoomTo(state, FIT); });
    group.append(out, level, into, fit);
    group.hidden = true; // until the pages are laid out
    return group;
  }

  // Opens `url` in `view` (the paper's div.pdf-view). The caller shows the view.
  function open(view, id, url) {
    close(view);
    var state = {
      closed: false, tasks: new Set(), layers: new Set(), observer: null, loading: null,
      pdfjs: null, pages: null, bar: null, zoom: FIT, generation: 0,
    };
    view._pdf = state;
    var bar = element("p", "pdf-bar");
    state.bar = bar;
    var zoom = zoomControls(state);
    var status = element("span", "pdf-status", "Loading the PDF…");
    status.setAttribute("role", "status");
    var newTab = element("a", "pdf-new-tab", "open in a new tab");
    newTab.href = url;
    newTab.target = "_blank";
    newTab.rel = "noopener";
    bar.append(status, " ", zoom, " · ", newTab);
    view.replaceChildren(bar);
    view.dataset.pdf = "loading";
    load()
      .then(function (pdfjs) {
        if (state.closed) return null;
        state.pdfjs = pdfjs;
        state.loading = pdfjs.getDocument({
          url: url,
          withCredentials: false,
          cMapUrl: ASSETS + "cmaps/",
          cMapPacked: true,
          standardFontDataUrl: ASSETS + "standard_fonts/",
          iccUrl: ASSETS + "iccs/",
          wasmUrl: ASSETS + "wasm/",
          useWasm: false, // WebAssembly needs 'wasm-unsafe-eval' in the CSP; the JS decoders do not
          enableXfa: false,
          isEvalSupported: false,
        });
        return state.loading.promise;
      })
      .then(function (doc) {
        if (!doc || state.closed) return null;
        state.doc = doc;
        return layOut(view, doc, state);
      })
      .then(function (pages) {
        if (!pages || state.closed) return;
        status.textContent = pages + (pages === 1 ? " page" : " pages");
        zoom.hidden = false;
        view.dataset.pdf = "shown";
      })
      .catch(function (error) {
        if (state.closed) return;
        status.textContent = "The PDF cannot be shown here: " + reason(error) + ".";
        status.className = "pdf-status pdf-error";
        view.dataset.pdf = "failed";
      });
  }

  // Stops drawing, frees the document and its worker's memory. Safe on a view never opened.
  function close(view) {
    var state = view._pdf;
    if (!state) return;
    state.closed = true;
    if (state.observer) state.observer.disconnect();
    state.tasks.forEach(function (task) { task.cancel(); });
    state.layers.forEach(function (layer) { layer.cancel(); });
    if (state.loading) state.loading.destroy().catch(function () {});
    view._pdf = null;
    delete view.dataset.pdf;
  }

  return { open: open, close: close };
})();
