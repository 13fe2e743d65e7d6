/* Background jobs (geo_app/web/jobs.py): start one, or join the one already made for the same
 * thing, and follow it until it is done, from whichever app server answers. Used by the export
 * dialog (static/exports.js) as window.GeoAppJobs.
 */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var token = null;

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); });
  }

  function csrf(meUrl) {
    if (token) { return Promise.resolve(token); }
    return getJSON(meUrl).then(function (me) { token = me.csrf_token; return token; });
  }

  /* POST the job; resolves with the job (its "joined" says whether it was made already), or
   * rejects with an Error whose "message" is the server's when it gave one. */
  function start(urls, kind, params) {
    return csrf(urls.me)
      .then(function (csrfToken) {
        return fetch(urls.jobs, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken },
          body: JSON.stringify({ kind: kind, params: params })
        });
      })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (!r.ok) {
            var err = new Error((body && (body.message || body.error)) || ("HTTP " + r.status));
            err.server = true;
            throw err;
          }
          return body;
        });
      });
  }

  /* Call onUpdate(job) now and at each poll until the job is done or failed. */
  function follow(job, onUpdate) {
    onUpdate(job);
    if (job.state === "done" || job.state === "failed") { return; }
    window.setTimeout(function () {
      getJSON(job.url)
        .then(function (next) { follow(next, onUpdate); })
        .catch(function () { window.setTimeout(function () { follow(job, onUpdate); }, POLL_MS); });
    }, POLL_MS);
  }

  window.GeoAppJobs = { start: start, follow: follow };
})();
