/* The export dialog of the map page (templates/_export_dialog.html): the choices are checked by
 * the server (GET /api/export/check, which names a wrong field and says why); a map is then
 * downloaded, or, for a briefing pack or a map image at print resolution, made by a background
 * job (static/jobs.js) whose progress shows in the dialog, the file downloading when it is done.
 * Asking again for the same file joins the job already under way.
 */
(function () {
  "use strict";

  var node = document.getElementById("geoapp-export");
  var dialog = document.getElementById("export-dialog");
  var opener = document.getElementById("export-open");
  if (!node || !dialog || !opener) { return; }
  var config = JSON.parse(node.textContent);
  var T = config.text;
  var form = document.getElementById("export-form");
  var errorBox = document.getElementById("export-error");
  var progress = document.getElementById("export-progress");
  var bar = document.getElementById("export-bar");
  var progressText = document.getElementById("export-progress-text");
  var unitChoice = document.getElementById("export-area");
  var provinceChoice = document.getElementById("export-province");
  var layer = null;
  var following = null; // the id of the job the dialog shows

  document.addEventListener("geoapp:layer", function (e) { layer = e.detail.layer; });

  function selectedUnit() {
    var code = layer && layer.geoApp ? layer.geoApp.selected : null;
    if (!code) {
      var m = /^#(\d+)$/.exec(window.location.hash);
      code = m ? m[1] : null;
    }
    return code;
  }

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_m, k) { return values[k] === undefined ? "" : String(values[k]); });
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
    form.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
    });
  }

  function showError(message, field) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    var input = field ? form.querySelector('[name="' + field + '"]') : null;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-errormessage", "export-error");
      input.focus();
    }
  }

  function showProgress(state, fraction, text) {
    progress.hidden = false;
    progress.setAttribute("data-state", state);
    var pct = Math.round(100 * Math.max(0, Math.min(1, fraction || 0)));
    bar.setAttribute("aria-valuenow", String(pct));
    bar.setAttribute("aria-valuetext", pct + " % — " + text);
    bar.style.setProperty("--done", pct + "%");
    progressText.textContent = text + (state === "failed" ? "" : " (" + pct + " %)");
  }

  function jobText(job) {
    if (job.state === "failed") { return fmt(T.failed, { error: job.error || "" }); }
    if (job.state === "done") { return T.ready; }
    if (job.state === "queued") { return T.queued; }
    var m = /(\d+) of (\d+)/.exec(job.message || "");
    return m ? T.running + " " + fmt(T.pages, { done: m[1], total: m[2] }) : T.running;
  }

  function params() {
    var out = new URLSearchParams();
    var data = new FormData(form);
    ["what", "paper", "orientation", "dpi", "lang", "title", "marking", "since"].forEach(function (name) {
      var value = data.get(name);
      if (value !== null && String(value).trim() !== "") { out.set(name, String(value).trim()); }
    });
    var code = selectedUnit();
    if (unitChoice.checked && code) { out.set("area", code); }
    if (config.programme) { out.set("programme", config.programme); }
    if (config.as_of) { out.set("as_of", config.as_of); }
    return out;
  }

  function follow(job, joined) {
    var first = true;
    following = job.id;
    window.GeoAppJobs.follow(job, function (next) {
      if (following !== next.id) { return; }
      var text = jobText(next);
      if (first && joined) {
        text = (next.state === "done" ? T.joined_done : T.joined) + " " + text;
      }
      first = false;
      showProgress(next.state, next.state === "done" ? 1 : next.progress, text);
      if (next.state === "done" || next.state === "failed") {
        following = null;
        form.removeAttribute("aria-busy");
        if (next.state === "done" && next.result_url) { window.location.href = next.result_url; }
      }
    });
  }

  function submit(event) {
    event.preventDefault();
    clearError();
    var query = params();
    form.setAttribute("aria-busy", "true");
    fetch(config.check + "?" + query.toString(), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (answer) {
        if (!answer.ok || !answer.body.ok) {
          form.removeAttribute("aria-busy");
          showError(answer.body.error || T.error, answer.body.field);
          return null;
        }
        if (!answer.body.job) {
          form.removeAttribute("aria-busy");
          showProgress("running", 0, T.downloading);
          window.location.href = answer.body.url;
          return null;
        }
        return window.GeoAppJobs.start(config, answer.body.kind, answer.body.params).then(function (job) {
          if (job.joined && following === job.id) {  // a second click: the same job goes on
            showProgress(job.state, job.progress, T.joined + " " + jobText(job));
            return;
          }
          follow(job, job.joined);
        });
      })
      .catch(function (err) {
        form.removeAttribute("aria-busy");
        showError(err && err.server ? err.message : T.error, null);
      });
  }

  function open() {
    var code = selectedUnit();
    unitChoice.disabled = !code;
    if (!code || !unitChoice.checked) { provinceChoice.checked = true; }
    if (!following) { progress.hidden = true; }
    clearError();
    dialog.showModal();
  }

  opener.addEventListener("click", open);
  document.getElementById("export-close").addEventListener("click", function () { dialog.close(); });
  document.getElementById("export-cancel").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () { opener.focus(); });
  form.addEventListener("submit", submit);
})();
