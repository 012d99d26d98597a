// Cool Papers front-end: math rendering and the inline PDF view. No data is ever evaluated as code:
// titles and abstracts arrive escaped, and KaTeX runs in safe mode (trust: false).
"use strict";

function renderMath(root) {
  if (typeof renderMathInElement !== "function") return;
  root.querySelectorAll(".title-link, .summary").forEach(function (el) {
    renderMathInElement(el, {
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
    });
  });
}

// papers.cool's name and signature: the tools built for it call togglePdf(id, url, element).
function togglePdf(id, url, element) {
  var view = document.getElementById("pdf-view-" + id);
  if (!view) return true;
  if (window.event) window.event.preventDefault();
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
  var stars = document.getElementById("pdf-stars-" + id);
  if (stars && element) element.classList.add("opened");
  return false;
}

document.addEventListener("DOMContentLoaded", function () {
  renderMath(document);
});
