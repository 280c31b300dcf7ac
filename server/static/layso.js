/* Shared by the staff and manager pages: on a phone, a data table becomes one card per row, each
   value under its column's name (the names are copied from the table head into data-label).
   Tables redrawn later (the live view reloads its body) are labelled again. */
(function () {
  "use strict";
  function label(root) {
    Array.prototype.forEach.call(root.querySelectorAll("table.data, table.stackable"), function (table) {
      var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        return th.textContent.trim();
      });
      Array.prototype.forEach.call(table.querySelectorAll("tbody tr, tfoot tr"), function (tr) {
        Array.prototype.forEach.call(tr.children, function (cell, i) {
          if (heads[i] && cell.colSpan === 1 && !cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", heads[i]);
          }
        });
      });
      table.classList.add("stackable");
    });
  }
  function start() {
    label(document);
    new MutationObserver(function () { label(document); }).observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
