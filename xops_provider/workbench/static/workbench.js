// Stories Workbench: served as a file (the CSP forbids inline scripts). Text is only ever written
// with textContent, never as HTML.
"use strict";

function setupRawSearch() {
  const input = document.getElementById("raw-search");
  const pre = document.getElementById("raw-json");
  const count = document.getElementById("raw-count");
  if (!input || !pre) {
    return;
  }
  const original = pre.textContent;
  const lines = original.split("\n");
  input.addEventListener("input", () => {
    const term = input.value.trim().toLowerCase();
    if (!term) {
      pre.textContent = original;
      count.textContent = "";
      return;
    }
    const matches = [];
    lines.forEach((line, index) => {
      if (line.toLowerCase().includes(term)) {
        matches.push(String(index + 1).padStart(6, " ") + "  " + line);
      }
    });
    pre.textContent = matches.join("\n");
    count.textContent = matches.length + " matching line" + (matches.length === 1 ? "" : "s");
    const details = pre.closest("details");
    if (details) {
      details.open = true;
    }
  });
}

function setupWidgetToggles() {
  document.querySelectorAll("button[data-widgets]").forEach((button) => {
    button.addEventListener("click", () => {
      const open = button.dataset.widgets === "open";
      document.querySelectorAll("details.widget").forEach((details) => {
        details.open = open;
      });
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupRawSearch();
  setupWidgetToggles();
  document.documentElement.dataset.workbenchReady = "1";
});
