/* Keyboard shortcuts for the Approvals page (/approvals).
 *
 * Every key presses one of the page's own buttons or checkboxes, exactly as a mouse would, so the
 * server-side rules, the CSRF token and the confirmation before a group decision stay the same.
 *   j / k   move the cursor down / up the list        x   tick the row under the cursor
 *   g       open the row under the cursor             a / r   approve / reject (ticked rows, else the cursor's)
 *   Enter   confirm, in the confirmation              ?   the help overlay
 * Keys are ignored while typing in a field, with a modifier held, or on any other page.
 */
(function () {
  "use strict";

  var cursor = 0;

  function onPage() {
    return window.location.pathname.replace(/\/+$/, "") === "/approvals" && document.getElementById("approvals-list");
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable) return true;
    var tag = target.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select") return true;
    if (tag !== "input") return false;
    var type = (target.getAttribute("type") || "text").toLowerCase();
    return ["checkbox", "radio", "button", "submit", "reset"].indexOf(type) < 0;
  }

  function visible(el) {
    return !!el && el.offsetParent !== null;
  }

  function open(id) {
    /* dbc.Modal puts its id on the dialog; the shown modal around it carries "show". */
    var el = document.getElementById(id);
    return !!el && (!!el.closest(".modal.show") || visible(el));
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#approvals-list .approvals-row"));
  }

  function grouped() {
    return visible(document.getElementById("approvals-group-actions"));
  }

  function mark() {
    var all = rows();
    if (!all.length) return null;
    cursor = Math.max(0, Math.min(cursor, all.length - 1));
    all.forEach(function (row, i) {
      row.classList.toggle("kbd-cursor", i === cursor);
    });
    return all[cursor];
  }

  function press(el) {
    if (el && !el.disabled) {
      el.click();
      return true;
    }
    return false;
  }

  /* Click `id` once it is enabled: a tick enables the bulk buttons through a server round trip. */
  function pressWhenReady(id, tries) {
    var el = document.getElementById(id);
    if (press(el)) return;
    if ((tries || 0) < 40) {
      window.setTimeout(function () {
        pressWhenReady(id, (tries || 0) + 1);
      }, 100);
    }
  }

  function ticked() {
    return document.querySelectorAll("#approvals-list .approvals-row .row-check input:checked").length > 0;
  }

  function decide(approve) {
    if (grouped()) {
      if (ticked()) return press(document.getElementById(approve ? "approvals-groups-approve" : "approvals-groups-reject"));
      var row = mark();
      return row && press(row.querySelector(approve ? ".row-approve" : ".row-reject"));
    }
    if (ticked()) return pressWhenReady(approve ? "approvals-bulk-approve" : "approvals-bulk-reject");
    var current = mark();
    if (!current) return false;
    var target = approve ? "approvals-approve" : "approvals-reject";
    if (!current.classList.contains("active-item")) {
      press(current.querySelector(".row-open")); /* select it, then decide once its detail is shown */
      var tries = 0;
      var wait = window.setInterval(function () {
        var now = mark();
        var button = document.getElementById(target);
        if (now && now.classList.contains("active-item") && button && !button.disabled) {
          window.clearInterval(wait);
          button.click();
        } else if (++tries > 40) {
          window.clearInterval(wait);
        }
      }, 100);
      return true;
    }
    return press(document.getElementById(target));
  }

  document.addEventListener(
    "keydown",
    function (event) {
      if (!onPage() || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      var key = event.key;
      if (open("approvals-confirm")) {
        if (key === "Enter") {
          event.preventDefault();
          press(document.getElementById("approvals-confirm-go"));
        }
        return;
      }
      if (open("approvals-help") && key !== "?") return;
      var handled = true;
      if (key === "j" || key === "k") {
        cursor += key === "j" ? 1 : -1;
        var row = mark();
        if (row) row.scrollIntoView({ block: "nearest" });
      } else if (key === "x") {
        var current = mark();
        var box = current && current.querySelector(".row-check input");
        if (box) box.click();
      } else if (key === "g") {
        var here = mark();
        press(here && here.querySelector(".row-open"));
      } else if (key === "a" || key === "r") {
        decide(key === "a");
      } else if (key === "?") {
        press(document.getElementById("approvals-help-open"));
      } else {
        handled = false;
      }
      if (handled) event.preventDefault();
    },
    true
  );

  /* Another view, filter or page starts the cursor at the top. */
  document.addEventListener(
    "click",
    function (event) {
      var target = event.target;
      if (onPage() && target && target.closest && target.closest("#approvals-view, #approvals-people, #approvals-newer, #approvals-older")) {
        cursor = 0;
      }
    },
    true
  );

  /* The list is redrawn after every decision and page turn: keep the cursor visible on it. */
  new MutationObserver(function () {
    if (onPage()) mark();
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
