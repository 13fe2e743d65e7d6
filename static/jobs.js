/* Background jobs on the map page: the briefing pack of the Export menu is made by a job
 * (POST /api/jobs), its progress shown beside the link, and the file fetched when done, from
 * whichever app server answers (geo_app/web/jobs.py). Without the job API (an error), the link
 * is followed as it is: GET /export/pack.pdf renders the pack in the request.
 */
(function () {
  "use strict";

  var configNode = document.getElementById("geoapp-config");
  if (!configNode) { return; }
  var config = JSON.parse(configNode.textContent);
  var T = config.text;
  var POLL_MS = 1000;
  var token = null;

  function csrf() {
    if (token) { return Promise.resolve(token); }
    return fetch(config.api.me, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (me) { token = me.csrf_token; return token; });
  }

  function paramsOf(href) {
    var url = new URL(href, window.location.href);
    var params = {};
    url.searchParams.forEach(function (_value, name) {
      var values = url.searchParams.getAll(name);
      params[name] = name === "area" ? values : values[values.length - 1];
    });
    if (config.as_of && !params.as_of) { params.as_of = config.as_of; }
    return params;
  }

  function statusFor(link) {
    var node = link.nextElementSibling;
    if (!node || !node.classList.contains("job-status")) {
      node = document.createElement("span");
      node.className = "job-status";
      node.setAttribute("role", "status");
      node.setAttribute("aria-live", "polite");
      link.parentNode.insertBefore(node, link.nextSibling);
    }
    return node;
  }

  function show(node, job) {
    node.hidden = false;
    node.setAttribute("data-state", job.state);
    if (job.state === "failed") {
      node.textContent = T.job_failed.replace("{error}", job.error || "");
    } else if (job.state === "done") {
      node.textContent = T.job_ready;
    } else if (job.state === "queued") {
      node.textContent = T.job_queued;
    } else {
      node.textContent = T.job_progress.replace("{pct}", String(Math.round(100 * job.progress)));
    }
  }

  function follow(link, node, job) {
    show(node, job);
    if (job.state === "done") {
      link.removeAttribute("aria-busy");
      if (job.result_url) { window.location.href = job.result_url; }
      return;
    }
    if (job.state === "failed") { link.removeAttribute("aria-busy"); return; }
    window.setTimeout(function () {
      fetch(job.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (next) { follow(link, node, next); })
        .catch(function () { window.setTimeout(function () { follow(link, node, job); }, POLL_MS); });
    }, POLL_MS);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest('#export-menu a[data-export="pack"]');
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) { return; }
    event.preventDefault();
    if (link.getAttribute("aria-busy") === "true") { return; }
    link.setAttribute("aria-busy", "true");
    var node = statusFor(link);
    show(node, { state: "queued", progress: 0 });
    csrf()
      .then(function (csrfToken) {
        return fetch(config.api.jobs, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken },
          body: JSON.stringify({ kind: "pack", params: paramsOf(link.getAttribute("href")) })
        });
      })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (job) { follow(link, node, job); })
      .catch(function () {
        // no job API: the link renders the pack in the request, as it always did
        link.removeAttribute("aria-busy");
        node.hidden = true;
        window.location.href = link.getAttribute("href");
      });
  });
})();
