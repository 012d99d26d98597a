// Starts Swagger UI on /docs (a file, not an inline script: the site's CSP allows none).
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
