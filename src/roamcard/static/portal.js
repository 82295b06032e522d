/* Roamcard portal: small progressive enhancements. Everything works without this file. */
(function () {
  "use strict";

  // Show times in the browser's time zone unless the user chose one (the server reads this cookie).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.split("; ").every(function (c) { return c.indexOf("rc_tz=") !== 0; })) {
      document.cookie = "rc_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* no Intl: the operator's default zone is used */ }

  // Typing a custom amount picks the custom-amount product.
  document.querySelectorAll("[data-selects]").forEach(function (input) {
    input.addEventListener("input", function () {
      var radio = document.getElementById(input.getAttribute("data-selects"));
      if (radio) { radio.checked = true; }
    });
  });

  // Receipt: a print button (hidden without JS, where the browser's own print works).
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });

  // Recharge status: poll until the order is final, updating the page in place.
  var box = document.querySelector("[data-poll]");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-poll");
  // The QR page: leave for the status page as soon as the order is no longer waiting for the scan.
  var leave = box.getAttribute("data-leave");
  var started = Date.now();
  var SLOW_MS = 45000;
  function field(name) { return box.querySelector('[data-field="' + name + '"]'); }
  function slow() { var note = field("slow"); if (note) { note.hidden = false; } }
  function show(state) {
    if (leave) {
      if (state.status !== box.getAttribute("data-status")) { window.location.assign(leave); }
      return;
    }
    field("label").textContent = state.label;
    if (field("note").textContent !== state.note) { field("note").textContent = state.note; }
    if (state.slow || Date.now() - started > SLOW_MS) { slow(); }
    if (state.fulfilled) {
      field("label").className = "chip ok";
      field("balance").textContent = state.balance || "";
      field("done").hidden = false;
      var refresh = box.querySelector(".refresh");
      if (refresh) { refresh.hidden = true; }
      var pay = field("pay");
      if (pay) { pay.hidden = true; }
    }
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (state) {
        if (state.final && !state.fulfilled && !leave) { window.location.reload(); return; }
        show(state);
        if (!state.final) { schedule(); }
      })
      .catch(function () {
        if (Date.now() - started > SLOW_MS) { slow(); }
        schedule();
      });
  }
  function schedule() {
    var elapsed = Date.now() - started;
    window.setTimeout(poll, elapsed < 30000 ? 1500 : 5000);
  }
  schedule();
})();

// eSIM install page: copy buttons for the manual-entry fields.
document.querySelectorAll("[data-copy]").forEach(function (button) {
  button.addEventListener("click", function () {
    var source = document.getElementById(button.dataset.copy);
    if (source && navigator.clipboard) { navigator.clipboard.writeText(source.textContent.trim()); }
  });
});
