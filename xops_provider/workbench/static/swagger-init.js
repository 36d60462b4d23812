// Swagger UI for the Workbench's API, started from a file (the CSP forbids inline scripts).
"use strict";
window.addEventListener("load", () => {
  const root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: root.dataset.openapi, dom_id: "#swagger-ui" });
});
