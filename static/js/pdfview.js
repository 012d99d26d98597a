// The [PDF] toggle's viewer: PDF.js (vendored from npm, static/vendor/pdfjs) draws the pages inside the
// paper. Phones show nothing for a PDF in an iframe; a canvas they show. PDF.js is loaded on the first
// open only (half a megabyte, and a worker of 1.2 MB that the browser caches), never with the page.
// Where the PDF cannot be read from here (arXiv's CORS headers, a network error), the viewer says
// why; the "open in a new tab" link is always there and always works.
"use strict";

var PdfView = (function () {
  var script = document.currentScript;
  var LIBRARY = script.dataset.pdfjs; // hashed URLs, set by base.html
  var WORKER = script.dataset.worker;
  var ASSETS = "/static/vendor/pdfjs/"; // fonts, character maps, JS image decoders
  var PAGE_MARGIN = "1500px 0px"; // pages this near the visible part of the viewer are drawn
  var MAX_PIXEL_RATIO = 2; // sharper than this costs memory a phone does not have
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
    return doc.getPage(number).then(function (page) {
      if (state.closed) return null;
      var base = page.getViewport({ scale: 1 });
      var width = holder.clientWidth || base.width;
      var ratio = Math.min(window.devicePixelRatio || 1, MAX_PIXEL_RATIO);
      var viewport = page.getViewport({ scale: (width / base.width) * ratio });
      var canvas = element("canvas", "pdf-canvas");
      canvas.width = Math.floor(viewport.width);
      canvas.height = Math.floor(viewport.height);
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", "Page " + number + " of " + doc.numPages);
      var task = page.render({ canvas: canvas, canvasContext: canvas.getContext("2d"), viewport: viewport });
      state.tasks.add(task);
      return task.promise.then(function () {
        state.tasks.delete(task);
        if (state.closed) return;
        holder.replaceChildren(canvas);
        holder.style.aspectRatio = "";
        holder.dataset.drawn = "1";
        page.cleanup();
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
      var observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (!entry.isIntersecting) return;
          observer.unobserve(entry.target);
          drawPage(doc, entry.target, Number(entry.target.dataset.page), state).catch(function (error) {
            if (!state.closed && !(error && error.name === "RenderingCancelledException")) {
              entry.target.textContent = "Page " + entry.target.dataset.page + " could not be drawn.";
            }
          });
        });
      }, { root: pages, rootMargin: PAGE_MARGIN });
      state.observer = observer;
      for (var n = 1; n <= doc.numPages; n += 1) {
        var holder = element("div", "pdf-page");
        holder.dataset.page = String(n);
        holder.style.aspectRatio = size.width + " / " + size.height;
        pages.append(holder);
        observer.observe(holder);
      }
      view.append(pages);
      return doc.numPages;
    });
  }

  // Opens `url` in `view` (the paper's div.pdf-view). The caller shows the view.
  function open(view, id, url) {
    close(view);
    var state = { closed: false, tasks: new Set(), observer: null, loading: null };
    view._pdf = state;
    var bar = element("p", "pdf-bar");
    var status = element("span", "pdf-status", "Loading the PDF…");
    status.setAttribute("role", "status");
    var newTab = element("a", "pdf-new-tab", "open in a new tab");
    newTab.href = url;
    newTab.target = "_blank";
    newTab.rel = "noopener";
    bar.append(status, " · ", newTab);
    view.replaceChildren(bar);
    view.dataset.pdf = "loading";
    load()
      .then(function (pdfjs) {
        if (state.closed) return null;
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
    if (state.loading) state.loading.destroy().catch(function () {});
    view._pdf = null;
    delete view.dataset.pdf;
  }

  return { open: open, close: close };
})();
