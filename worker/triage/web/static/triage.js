// Keyboard shortcuts and small conveniences. Progressive enhancement only: every page works
// without this file (links and plain forms). Served as a static file because the
// Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  var NOT_TEXT = ["radio", "checkbox", "button", "submit", "reset"];

  // Shortcuts never fire while the analyst types (a radio or checkbox is not typing).
  function isTyping(element) {
    if (!element) return false;
    var tag = element.tagName;
    if (tag === "INPUT") return NOT_TEXT.indexOf(element.type) < 0;
    return element.isContentEditable || tag === "TEXTAREA" || tag === "SELECT";
  }

  function follow(selector) {
    var link = document.querySelector(selector);
    if (link && link.getAttribute("href")) window.location.assign(link.getAttribute("href"));
    return Boolean(link);
  }

  function toggleShortcuts(open) {
    var legend = document.getElementById("shortcuts");
    if (!legend) return false;
    legend.classList.toggle("open", open);
    return true;
  }

  // --- the queue: j/k move, Enter/o open, n next open item -------------------------------
  function queueKeys() {
    var rows = Array.prototype.slice.call(document.querySelectorAll("[data-testid=queue-row]"));
    var current = -1;

    function highlight(index) {
      if (!rows.length) return;
      current = Math.max(0, Math.min(rows.length - 1, index));
      rows.forEach(function (row, i) { row.classList.toggle("current", i === current); });
      rows[current].scrollIntoView({ block: "nearest" });
    }

    function open(row) {
      var link = row && row.querySelector("[data-testid=open-item]");
      if (link) window.location.assign(link.getAttribute("href"));
      return Boolean(link);
    }

    rows.forEach(function (row) {
      row.addEventListener("click", function (event) {
        if (event.target.closest("a, input, button, label")) return;
        open(row);
      });
    });

    return function (key) {
      switch (key) {
        case "j": highlight(current + 1); return true;
        case "k": highlight(current - 1); return true;
        case "Enter": case "o": return current >= 0 && open(rows[current]);
        case "n": return follow("#next-open");
        default: return false;
      }
    };
  }

  // --- the item: c claim, f/l/u outcome, Enter decide, n next, Esc back -----------------
  function itemKeys() {
    var form = document.getElementById("decide");
    var reason = document.getElementById("reason_code");
    var note = document.getElementById("note");

    function showReasonsOf(outcome) {
      if (!reason) return;
      Array.prototype.forEach.call(reason.querySelectorAll("optgroup"), function (group) {
        group.disabled = group.getAttribute("data-outcome") !== outcome;
      });
      var selected = reason.options[reason.selectedIndex];
      if (selected && selected.parentElement.disabled) reason.value = "";
    }

    function choose(outcome) {
      var radio = document.getElementById("outcome-" + outcome);
      if (!radio || radio.disabled) return false;
      radio.checked = true;
      showReasonsOf(outcome);
      reason.focus();
      return true;
    }

    function submit() {
      if (form && form.reportValidity()) form.requestSubmit();
    }

    if (form) {
      Array.prototype.forEach.call(form.querySelectorAll("input[name=outcome]"), function (radio) {
        radio.addEventListener("change", function () { showReasonsOf(radio.value); });
      });
      if (reason) {
        reason.addEventListener("keydown", function (event) {
          if (event.key === "Enter") { event.preventDefault(); submit(); }
        });
      }
      if (note) {
        note.addEventListener("keydown", function (event) {
          if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
            event.preventDefault();
            submit();
          }
        });
      }
    }

    return function (key) {
      switch (key) {
        case "c": {
          var claim = document.getElementById("claim");
          if (claim && !claim.disabled) claim.click();
          return Boolean(claim);
        }
        case "f": return choose("fraud");
        case "l": return choose("legitimate");
        case "u": return choose("unsure");
        case "n": return follow("#next-item");
        case "Escape": return follow("#back-to-queue");
        default: return false;
      }
    };
  }

  // Forms that ask first (the lead's bulk close).
  function confirmForms() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    confirmForms();
    var page = document.body.getAttribute("data-page");
    var handle = page === "queue" ? queueKeys() : page === "item" ? itemKeys() : null;
    var legend = document.getElementById("shortcuts");

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
      if (isTyping(event.target)) {
        if (event.key === "Escape") event.target.blur();
        return;
      }
      if (event.key === "?") {
        if (toggleShortcuts(!(legend && legend.classList.contains("open")))) event.preventDefault();
        return;
      }
      if (event.key === "Escape" && legend && legend.classList.contains("open")) {
        toggleShortcuts(false);
        event.preventDefault();
        return;
      }
      if (handle && handle(event.key)) event.preventDefault();
    });
  });
})();
