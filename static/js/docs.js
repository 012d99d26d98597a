// Starts Swagger UI on /docs (a file, not an inline script: the site's CSP allows none). Without deep
// links: they put a link inside each operation's button (axe-core: nested-interactive).
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: false });
  // What Swagger UI leaves out, added as it renders: a keyboard reaches its examples, which scroll
  // sideways (axe-core: scrollable-region-focusable), and a parameter's list is named (select-name).
  var root = document.getElementById("swagger-ui");
  new MutationObserver(function () {
    root.querySelectorAll(".highlight-code > pre:not([tabindex])").forEach(function (pre) { pre.tabIndex = 0; });
    root.querySelectorAll("tr[data-param-name] select:not([aria-label])").forEach(function (select) {
      select.setAttribute("aria-label", select.closest("tr").dataset.paramName);
    });
  }).observe(root, { childList: true, subtree: true });
});
