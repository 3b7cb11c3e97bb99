// A table that scrolls sideways (a phone) is put in the tab order, so that a keyboard can
// scroll it (axe: scrollable-region-focusable); one that fits is left out (no needless stop).
// Checked when the page loads, when its width changes and after htmx swapped a fragment in.
// Without JavaScript the tables still scroll, by touch or mouse.
(function () {
  "use strict";
  function mark() {
    var tables = document.querySelectorAll("table");
    for (var i = 0; i < tables.length; i++) {
      var table = tables[i];
      var scrolls = table.scrollWidth > table.clientWidth + 1;
      if (scrolls && !table.hasAttribute("tabindex")) {
        table.setAttribute("tabindex", "0");
        table.dataset.scrolls = "1";
      } else if (!scrolls && table.dataset.scrolls === "1") {
        table.removeAttribute("tabindex");
        delete table.dataset.scrolls;
      }
    }
  }
  document.addEventListener("DOMContentLoaded", mark);
  window.addEventListener("resize", mark);
  document.addEventListener("htmx:afterSettle", mark);
})();
