/* The provincial map page: side panel, search, status filter. No library but Leaflet.
 *
 * The folium layer (geo_app/maps.py, StatusLayer) announces itself with the events
 * "geoapp:layer" (map and layer exist), "geoapp:loaded" (shapes drawn), "geoapp:error", and a
 * click on a unit sends "geoapp:select". Everything shown comes from the page's config (strings
 * translated on the server) or from the JSON API.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("geoapp-config").textContent);
  var T = config.text;
  var phone = window.matchMedia("(max-width: 640px)");
  var geo = { map: null, layer: null, byCode: {}, selected: null, request: 0, data: null };
  var me = null;
  var asOf = config.as_of ? "&as_of=" + encodeURIComponent(config.as_of) : "";
  // every API call names the programme the page shows (the default one needs no parameter)
  var prog = config.programme && config.programme !== "hotspot"
    ? "&programme=" + encodeURIComponent(config.programme) : "";

  function $(id) { return document.getElementById(id); }
  function field(name) { return document.querySelector('#panel [data-field="' + name + '"]'); }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  /* -- map events ------------------------------------------------------------------------- */
  var message = $("map-message");
  function showMessage(text, isError) {
    message.textContent = text;
    message.classList.toggle("error", !!isError);
    message.hidden = false;
  }

  /* what a screen reader says of a change (the status region is polite: it waits its turn) */
  var live = $("live-status");
  function announce(text) {
    // emptied first, so the same words said twice are announced twice
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  /* the shapes are drawn for the pointer: the keyboard reaches units through the search and
   * the list page, not through 166 unnamed stops */
  function untabbable(lyr) {
    var path = lyr._path;
    if (path) {
      path.setAttribute("tabindex", "-1");
      path.setAttribute("focusable", "false");
    }
  }

  document.addEventListener("geoapp:layer", function (e) {
    geo.map = e.detail.map;
    geo.layer = e.detail.layer;
  });

  document.addEventListener("geoapp:loaded", function () {
    geo.layer.eachLayer(function (lyr) {
      geo.byCode[lyr.feature.properties.code] = lyr;
      untabbable(lyr);
    });
    message.hidden = true;
    var code = decodeURIComponent(window.location.hash.slice(1));
    if (code && geo.byCode[code]) { select(code, { zoom: true }); }
  });

  // a link to #CODE followed while the map is open (no reload): open that unit
  window.addEventListener("hashchange", function () {
    var code = decodeURIComponent(window.location.hash.slice(1));
    if (code && geo.byCode[code] && code !== geo.selected) { select(code, { zoom: true }); }
  });

  document.addEventListener("geoapp:error", function () { showMessage(T.map_error, true); });

  document.addEventListener("geoapp:select", function (e) {
    select(e.detail.code, { zoom: false });
  });

  /* -- selection and side panel ----------------------------------------------------------- */
  var panel = $("panel");
  var workspace = $("workspace");

  function restyle() { if (geo.layer) { geo.layer.resetStyle(); } }

  function zoomTo(lyr) {
    if (geo.map._animatingZoom) {
      // Leaflet drops a zoom asked for during another one (e.g. the initial fit)
      geo.map.once("zoomend", function () { zoomTo(lyr); });
      return;
    }
    var options = { maxZoom: 13, animate: true };
    if (phone.matches && !panel.hidden) {
      options.paddingTopLeft = [24, 64];
      options.paddingBottomRight = [24, panel.offsetHeight + 16];
    } else {
      options.padding = [48, 48];
    }
    geo.map.fitBounds(lyr.getBounds(), options);
  }

  // where focus goes back to when the panel closes: what had it when the panel opened
  var returnFocus = null;

  function openPanel() {
    var wasHidden = panel.hidden;
    var from = document.activeElement;
    if (from && from !== document.body && !panel.contains(from)) { returnFocus = from; }
    else if (wasHidden) { returnFocus = null; }
    panel.hidden = false;
    workspace.classList.add("panel-open");
    if (wasHidden && geo.map) { geo.map.invalidateSize({ pan: false }); }
    $("panel-title").focus({ preventScroll: true });
  }

  function closePanel() {
    var hadFocus = panel.contains(document.activeElement);
    panel.hidden = true;
    workspace.classList.remove("panel-open");
    geo.selected = null;
    geo.data = null;
    closeEdit();
    if (exportArea) { exportArea.checked = false; }
    updateExports();
    if (geo.layer) { geo.layer.geoApp.selected = null; restyle(); }
    if (geo.map) { geo.map.invalidateSize({ pan: false }); }
    if (window.location.hash) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    if (hadFocus || document.activeElement === document.body) {
      var back = returnFocus && document.contains(returnFocus) ? returnFocus : input;
      back.focus({ preventScroll: true });
    }
    returnFocus = null;
  }

  function setStatus(status) {
    var badge = field("status");
    badge.querySelector(".swatch").style.background = config.colors[status];
    badge.querySelector(".status-text").textContent = config.labels[status];
    badge.setAttribute("data-status", status);
  }

  function setFact(name, text) {
    var node = field(name);
    node.textContent = text || T.none;
    node.classList.toggle("empty", !text);
  }

  /* the record's fields, as the programme's definition lists them */
  function showFields(rec) {
    config.fields.forEach(function (f) {
      if (f.type === "list") {
        var list = field(f.name);
        list.textContent = "";
        var items = rec[f.name] || [];
        (items.length ? items : [T.none]).forEach(function (p) { list.appendChild(el("li", null, p)); });
      } else if (f.type === "date") {
        setFact(f.name, rec.display[f.name]);
      } else {
        var value = rec[f.name];
        setFact(f.name, value === null || value === undefined ? "" : String(value));
      }
    });
  }

  /* -- the export dialog's "selected unit" choice: only with a unit selected ---------------- */
  var exportArea = $("export-area");
  function updateExports() {
    if (exportArea) { exportArea.disabled = !geo.selected; }
  }

  function select(code, options) {
    var lyr = geo.byCode[code];
    if (!lyr) { return; }
    var props = lyr.feature.properties;
    geo.selected = code;
    geo.layer.geoApp.selected = code;
    updateExports();
    restyle();
    lyr.bringToFront();

    field("kind").textContent = props.kind;
    field("name").textContent = props.name;
    field("code").textContent = props.code;
    setStatus(geo.layer.geoAppStatusOf(lyr.feature));
    field("record").hidden = true;
    field("former-section").hidden = true;
    field("rollup-note").hidden = true;
    field("history-section").hidden = true;
    field("edit-box").hidden = true;
    closeEdit();
    var note = field("message");
    note.className = "panel-note";
    note.textContent = T.loading;
    note.hidden = false;
    openPanel();
    panel.setAttribute("aria-busy", "true");
    if (window.location.hash !== "#" + code) {
      window.history.replaceState(null, "", "#" + encodeURIComponent(code));
    }
    if (options && options.zoom) { zoomTo(lyr); }

    var ticket = ++geo.request;
    fetch(config.api.unit + encodeURIComponent(code) + "?lang=" + config.lang + prog + asOf, {
      headers: { Accept: "application/json" },
      credentials: "same-origin"
    })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) { if (ticket === geo.request) { showRecord(data); } })
      .catch(function () {
        if (ticket !== geo.request) { return; }
        note.textContent = T.record_error;
        note.hidden = false;
        panel.removeAttribute("aria-busy");
      });
  }

  function showFormer(data) {
    var list = field("former");
    list.textContent = "";
    (data.former || []).forEach(function (f) {
      var item = el("li", "former-unit");
      item.style.setProperty("--dot", config.colors[f.status]);
      var head = el("div", "former-name", (f.kind ? f.kind + " " : "") + (f.name || f.code));
      item.appendChild(head);
      item.appendChild(el("div", "meta", f.division + " · " + T.code + " " + f.code));
      var state = el("div", "former-status", f.status_label);
      if (f.split) { state.appendChild(el("span", "former-split", T.split)); }
      if (f.record && f.record.sample) { state.appendChild(el("span", "former-sample", T.sample_data)); }
      item.appendChild(state);
      var rec = f.record;
      if (rec) {
        var dates = [];
        config.former_dates.forEach(function (f) {
          if (rec.display[f.name]) { dates.push(f.label + " " + rec.display[f.name]); }
        });
        if (dates.length) { item.appendChild(el("div", "meta", dates.join(" · "))); }
      }
      list.appendChild(item);
    });
    field("former-section").hidden = !(data.former && data.former.length);
    var rollupNote = field("rollup-note");
    var own = data.own_status || data.status;
    rollupNote.hidden = !data.record || own === data.status;
    if (!rollupNote.hidden) {
      rollupNote.textContent = T.own_record.replace("{status}", config.labels[own]);
    }
  }

  /* the deadline badge ("Quá hạn 45 ngày", "Còn 12 ngày") and the targets' checklist */
  function showDeadline(data) {
    var badge = field("deadline");
    var d = data.deadline || { state: "none" };
    var text = "";
    if (d.state === "overdue") { text = T.overdue.replace("{n}", -d.days); }
    else if (d.state === "due_soon" || d.state === "on_track") {
      text = T.days_left.replace("{n}", d.days);
    } else if (d.state === "met_early") { text = T.met_early; }
    else if (d.state === "met_late") { text = T.met_late; }
    badge.textContent = text;
    badge.setAttribute("data-state", d.state);
    badge.hidden = !text;
  }

  /* what the programme's criteria say of the unit's indicators, and a disagreement */
  function showCriteria(data) {
    var box = field("criteria");
    var c = data.criteria;
    box.textContent = "";
    if (!c || !c.measured) { box.hidden = true; return; }
    var head = c.suggested ? T.criteria_give.replace("{status}", c.suggested_label) : T.criteria_none;
    box.appendChild(el("strong", null, head));
    if (c.met.length) {
      var list = el("ul", "criteria-met");
      c.met.forEach(function (m) { list.appendChild(el("li", null, m.clause + ": " + m.text)); });
      box.appendChild(list);
    }
    box.className = "panel-note criteria-note" + (c.disagrees ? " disagrees" : "");
    if (c.disagrees) {
      box.insertBefore(el("p", "criteria-flag", T.criteria_disagree
        .replace("{recorded}", data.status_label).replace("{status}", c.suggested_label)), box.firstChild);
    }
    box.hidden = false;
  }

  function showTargets(data) {
    var list = field("targets");
    list.textContent = "";
    var targets = data.targets || [];
    field("targets-progress").textContent = targets.length
      ? "(" + data.targets_met + "/" + data.targets_total + ")" : "";
    targets.forEach(function (t) {
      var item = el("li");
      item.setAttribute("data-state", t.state);
      item.setAttribute("data-key", t.key);
      var box = el("input");
      box.type = "checkbox";
      box.checked = !!t.met_on;
      box.disabled = !data.can_edit;
      box.setAttribute("aria-label", t.title);
      box.addEventListener("change", function () { tickTarget(data.code, t, box); });
      item.appendChild(box);
      var text = el("span");
      text.appendChild(el("span", "target-title", t.title));
      var meta = t.met_on ? T.target_met.replace("{date}", isoToDisplay(t.met_on))
        : t.due_on ? T.target_due.replace("{date}", isoToDisplay(t.due_on)) : "";
      if (t.note) { meta += (meta ? " · " : "") + t.note; }
      if (meta) { text.appendChild(el("span", "target-meta", meta)); }
      item.appendChild(text);
      list.appendChild(item);
    });
    field("targets-section").hidden = !targets.length;
  }

  function isoToDisplay(iso) {
    var p = iso.split("-");
    return config.lang === "vi" ? p[2] + "/" + p[1] + "/" + p[0] : iso;
  }

  function tickTarget(code, target, box) {
    if (!me) { box.checked = !box.checked; return; }
    box.disabled = true;
    fetch(config.api.unit + encodeURIComponent(code) + "/targets?lang=" + config.lang + prog, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json",
        "X-CSRFToken": me.csrf_token },
      credentials: "same-origin",
      body: JSON.stringify({ key: target.key, met_on: box.checked ? config.today : null })
    })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) { applyResult(data); refreshFigures(); })
      .catch(function () {
        box.checked = !box.checked;
        box.disabled = false;
        showEditMessage(T.target_error, "error");
      });
  }

  function showRecord(data) {
    geo.data = data;
    var note = field("message");
    setStatus(data.status);
    showDeadline(data);
    showCriteria(data);
    showTargets(data);
    showFormer(data);
    var rec = data.record;
    if (!rec) {
      note.textContent = data.status === "not_listed" ? T.no_record : T.no_own_record;
      note.hidden = false;
    } else if (data.sample) {
      note.textContent = T.sample;
      note.className = "panel-note sample";
      note.hidden = false;
    } else {
      note.hidden = true;
    }
    if (rec) {
      showFields(rec);
      field("record").hidden = false;
    }
    var list = field("history");
    list.textContent = "";
    data.history.slice().reverse().forEach(function (h) {
      var item = el("li");
      item.style.setProperty("--dot", config.colors[h.new_status]);
      item.appendChild(el("time", null, h.effective_on_display)).setAttribute("datetime", h.effective_on);
      var change = h.old_status_label && h.old_status !== h.new_status
        ? h.old_status_label + " → " + h.new_status_label
        : h.new_status_label;
      item.appendChild(el("div", "change", change));
      if (h.note) { item.appendChild(el("div", "note", h.note)); }
      var source = h.source === "web" ? T.web
        : h.source.indexOf("import:") === 0 ? T["import"] + " " + h.source.slice(7) : h.source;
      var meta = T.source + ": " + source + " · " + T.by + " " + h.actor +
        " · " + T.recorded + " " + h.changed_at_display;
      if (h.correction) { meta += " · " + T.correction; }
      item.appendChild(el("div", "meta", meta));
      list.appendChild(item);
    });
    if (!data.history.length) { list.appendChild(el("li", "meta", T.no_history)); }
    field("history-section").hidden = false;
    field("edit-box").hidden = !data.can_edit;
    panel.removeAttribute("aria-busy");
    if (phone.matches && geo.byCode[data.code]) {
      // the sheet now has its final height: keep the unit visible above it
      var lyr = geo.byCode[data.code];
      var box = geo.map.latLngToContainerPoint(lyr.getBounds().getCenter());
      if (box.y > geo.map.getSize().y - panel.offsetHeight) { zoomTo(lyr); }
    }
  }

  $("panel-close").addEventListener("click", closePanel);

  /* -- who is logged in (the page is shared by every user of a role: nothing personal in it) */
  fetch(config.api.me, { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    })
    .then(function (data) {
      me = data;
      $("user-name").textContent = data.username;
      $("logout-csrf").value = data.csrf_token;
      $("user-menu").hidden = false;
    })
    .catch(function () { return null; });

  /* -- editing a record ------------------------------------------------------------------- */
  var editForm = $("edit-form");
  var editMessage = $("edit-message");

  function showEditMessage(text, kind) {
    editMessage.textContent = text || "";
    editMessage.className = "edit-message" + (kind ? " " + kind : "");
    editMessage.hidden = !text;
  }

  var editDone = $("edit-done");
  var relapseNote = $("edit-relapse");

  function closeEdit() {
    editForm.hidden = true;
    $("edit-open").hidden = false;
    showEditMessage("");
    relapseNote.hidden = true;
    editDone.hidden = true;
  }

  /* the status in force on `day` by the unit's own history (what the server checks the rule
   * against: the current record, or the one in force on a correction's day) */
  function statusOn(data, day) {
    var own = data.own_status || data.status;
    var last = data.history.length ? data.history[data.history.length - 1].effective_on : "";
    if (!day || !last || day >= last) { return own; }
    var found = null;
    data.history.forEach(function (h) { if (h.effective_on <= day) { found = h.new_status; } });
    return found;
  }

  /* say before saving when the programme's relapse rule will record another status */
  function checkRelapse() {
    var rule = config.relapse;
    var data = geo.data;
    relapseNote.hidden = true;
    if (!rule || !data) { return; }
    var old = statusOn(data, $("edit-effective").value);
    var wanted = $("edit-status").value;
    if (old && rule.from.indexOf(old) >= 0 && rule.to.indexOf(wanted) >= 0 && wanted !== rule.becomes) {
      relapseNote.textContent = T.relapse_warning
        .replace("{old}", config.labels[old]).replace("{status}", config.labels[rule.becomes]);
      relapseNote.hidden = false;
    }
  }

  /* scroll the panel (only the panel: the page itself must not move) until `node` shows */
  function reveal(node) {
    var body = panel.querySelector(".panel-body");
    var r = node.getBoundingClientRect();
    var b = body.getBoundingClientRect();
    var bottom = Math.min(b.bottom, window.innerHeight);
    if (r.bottom > bottom) { body.scrollTop += r.bottom - bottom + 8; }
    else if (r.top < b.top) { body.scrollTop -= b.top - r.top + 8; }
  }

  /* the confirmation goes where the officer is looking: by the button, scrolled to, focused */
  function confirmSaved(data) {
    var last = data.history.length ? data.history[data.history.length - 1] : null;
    editDone.textContent = last
      ? T.saved_at.replace("{status}", data.status_label || config.labels[data.status])
        .replace("{date}", last.effective_on_display)
      : T.saved;
    editDone.hidden = false;
    reveal(editDone);
    editDone.focus({ preventScroll: true });
  }

  function openEdit() {
    var data = geo.data;
    if (!data) { return; }
    var rec = data.record || {};
    var own = data.own_status || data.status;  // the unit's own record, not the roll-up
    $("edit-status").value = own === "not_listed" ? config.statuses[0] : own;
    var last = data.history.length ? data.history[data.history.length - 1].effective_on : "";
    $("edit-effective").value = config.today;  // the app's day (Vietnam), not the browser's
    $("edit-effective").min = last;
    $("edit-effective").dataset.last = last;
    $("edit-correction").checked = false;
    $("edit-note").value = "";
    config.fields.forEach(function (f) {
      var value = rec[f.name];
      if (f.type === "list") { value = (value || []).join("; "); }
      $("edit-" + f.name).value = value === null || value === undefined ? "" : value;
    });
    showEditMessage("");
    editDone.hidden = true;
    editForm.hidden = false;
    $("edit-open").hidden = true;
    checkRelapse();
    $("edit-status").focus();
  }

  function refreshFigures() {
    return fetch(config.api.summary + "?lang=" + config.lang + prog, {
      headers: { Accept: "application/json" }, credentials: "same-origin"
    })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        var fmt = new Intl.NumberFormat(config.lang === "vi" ? "vi-VN" : "en-US");
        var listed = document.querySelector('[data-figure="listed"] .figure-value');
        if (listed) { listed.textContent = fmt.format(s.listed); }
        Object.keys(s.counts).forEach(function (status) {
          var node = document.querySelector('[data-figure="' + status + '"] .figure-value');
          if (node) { node.textContent = fmt.format(s.counts[status]); }
          var row = document.querySelector('.legend-row[data-status="' + status + '"] .legend-count');
          if (row) { row.textContent = fmt.format(s.counts[status]); }
        });
        // the tiles' notes ("% of listed") and the filter's counts, worded by the server
        (s.tiles || []).forEach(function (tile) {
          var note = document.querySelector('[data-figure="' + tile.code + '"] .figure-note');
          if (note && tile.note) { note.textContent = tile.note; }
        });
        (s.legend || []).forEach(function (row) {
          var option = document.querySelector('#status-filter option[value="' + row.code + '"]');
          if (option) { option.textContent = row.label + " (" + fmt.format(row.count) + ")"; }
        });

        ["overdue", "due_soon", "met_early"].forEach(function (state) {
          var node = document.querySelector('.deadline-count[data-deadline="' + state + '"] .figure-value');
          if (node && s[state] !== undefined) { node.textContent = fmt.format(s[state]); }
        });
        document.dispatchEvent(new CustomEvent("geoapp:changed"));
      });
  }

  function applyResult(data) {
    if (geo.layer) {
      if (data.status === "not_listed") { delete geo.layer.geoApp.statuses[data.code]; }
      else { geo.layer.geoApp.statuses[data.code] = data.status; }
      var state = data.deadline ? data.deadline.state : "none";
      var marks = geo.layer.geoApp.marks.deadline;
      if (state === "overdue" || state === "due_soon") { marks[data.code] = state; }
      else { delete marks[data.code]; }
      restyle();
    }
    if (geo.selected === data.code) { showRecord(data); }
  }

  $("edit-correction").addEventListener("change", function () {
    // a correction may go before the last change: history keeps both, in date order
    $("edit-effective").min = this.checked ? "" : $("edit-effective").dataset.last;
    checkRelapse();
  });
  $("edit-status").addEventListener("change", checkRelapse);
  $("edit-effective").addEventListener("change", checkRelapse);
  $("edit-open").addEventListener("click", openEdit);
  $("edit-cancel").addEventListener("click", closeEdit);
  editForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var data = geo.data;
    if (!data || !me) { showEditMessage(T.save_error, "error"); return; }
    var body = {
      status: $("edit-status").value,
      effective_on: $("edit-effective").value,
      correction: $("edit-correction").checked,
      note: $("edit-note").value,
      version: data.record ? data.record.version : null
    };
    config.fields.forEach(function (f) {
      var value = $("edit-" + f.name).value;
      body[f.name] = f.type === "date" || f.type === "number" ? value || null : value;
    });
    var code = data.code;
    $("edit-save").disabled = true;
    showEditMessage(T.saving, "");
    fetch(config.api.unit + encodeURIComponent(code) + "/status?lang=" + config.lang + prog, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json",
        "X-CSRFToken": me.csrf_token },
      credentials: "same-origin",
      body: JSON.stringify(body)
    })
      .then(function (response) {
        return response.json().then(function (json) { return { status: response.status, json: json }; });
      })
      .then(function (r) {
        $("edit-save").disabled = false;
        if (r.status === 200) {
          applyResult(r.json);
          refreshFigures().then(function () {
            announce(T.announce_saved.replace("{unit}", r.json.kind + " " + r.json.name)
              .replace("{status}", r.json.status_label));
          });
          showEditMessage(T.saved, "ok");
          editForm.hidden = true;
          $("edit-open").hidden = false;
          field("message").hidden = false;
          field("message").className = "panel-note ok";
          field("message").textContent = T.saved;
          confirmSaved(r.json);
        } else if (r.status === 409 && r.json.current) {
          applyResult(r.json.current);  // the newer record; the form keeps what was typed
          refreshFigures();
          editForm.hidden = false;
          $("edit-open").hidden = true;
          showEditMessage(T.conflict, "error");
        } else {
          showEditMessage(r.json.error || T.save_error, "error");
        }
        if (!editMessage.hidden && !editForm.hidden) { reveal(editMessage); }
      })
      .catch(function () {
        $("edit-save").disabled = false;
        showEditMessage(T.save_error, "error");
        reveal(editMessage);
      });
  });
  document.addEventListener("keydown", function (e) {
    // Escape closes the panel, but never throws away a change being typed in its form
    if (e.key === "Escape" && !panel.hidden && document.activeElement !== input &&
        !editForm.contains(document.activeElement)) { closePanel(); }
  });

  /* -- search ----------------------------------------------------------------------------- */
  var input = $("search-input");
  var results = $("search-results");
  var hint = $("search-hint");
  var matches = [];
  var active = -1;
  var timer = null;
  var lastQuery = null;
  var pending = null;

  function showHint(text) {
    hint.textContent = text || "";
    hint.hidden = !text;
  }

  function closeResults() {
    results.hidden = true;
    results.textContent = "";
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function renderResults() {
    results.textContent = "";
    matches.forEach(function (m, i) {
      var item = el("li");
      item.id = "search-option-" + i;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", i === active ? "true" : "false");
      item.setAttribute("data-code", m.code);
      item.appendChild(el("span", "swatch")).style.background =
        config.colors[geo.layer ? geo.layer.geoApp.statuses[m.code] || "not_listed" : "not_listed"];
      var name = el("span", "name");
      if (m.former) {  // found by a former unit's name: say which unit of today it is part of
        name.appendChild(el("span", "kind", m.former.kind + " "));
        name.appendChild(document.createTextNode(m.former.name));
        name.appendChild(el("span", "now-part-of",
          T.now_part_of.replace("{unit}", m.kind + " " + m.name)));
        item.setAttribute("data-former", m.former.code);
      } else {
        name.appendChild(el("span", "kind", m.kind + " "));
        name.appendChild(document.createTextNode(m.name));
      }
      item.appendChild(name);
      item.appendChild(el("span", "code", m.code));
      item.addEventListener("mousedown", function (e) { e.preventDefault(); });
      item.addEventListener("click", function () { pick(i); });
      results.appendChild(item);
    });
    results.hidden = !matches.length;
    input.setAttribute("aria-expanded", matches.length ? "true" : "false");
    if (active >= 0) {
      input.setAttribute("aria-activedescendant", "search-option-" + active);
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function runSearch(query) {
    if (query === lastQuery && pending) { return pending; }
    lastQuery = query;
    pending = fetch(config.api.search + "?q=" + encodeURIComponent(query) + "&limit=12", {
      headers: { Accept: "application/json" },
      credentials: "same-origin"
    })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (query !== input.value.trim()) { return matches; }
        matches = data.matches;
        active = -1;
        renderResults();
        showHint(matches.length ? "" : T.no_match);
        return matches;
      })
      .catch(function () {
        showHint(T.search_error);
        return [];
      });
    return pending;
  }

  function pick(i) {
    var m = matches[i];
    if (!m) { return; }
    input.value = m.kind + " " + m.name;
    closeResults();
    showHint("");
    lastQuery = null;
    select(m.code, { zoom: true });  // focus moves into the panel, and back here when it closes
  }

  function decide() {
    if (active >= 0) { pick(active); return; }
    // an exact name of today wins over a former unit's same name; former names that all lead
    // to one unit of today are one answer
    var exact = matches.filter(function (m) { return m.exact && !m.former; });
    if (!exact.length) {
      exact = matches.filter(function (m) { return m.exact; });
      var codes = exact.map(function (m) { return m.code; });
      if (codes.every(function (c) { return c === codes[0]; })) { exact = exact.slice(0, 1); }
    }
    if (matches.length === 1) {
      pick(0);
    } else if (exact.length === 1) {
      pick(matches.indexOf(exact[0]));
    } else if (matches.length > 1) {
      renderResults();
      var head = el("li", "several", T.several);
      head.setAttribute("role", "presentation");
      results.insertBefore(head, results.firstChild);
    }
  }

  input.addEventListener("input", function () {
    var query = input.value.trim();
    window.clearTimeout(timer);
    if (!query) { matches = []; closeResults(); showHint(""); return; }
    timer = window.setTimeout(function () { runSearch(query); }, 120);
  });

  input.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (!matches.length) { return; }
      e.preventDefault();
      var step = e.key === "ArrowDown" ? 1 : -1;
      active = (active + step + matches.length) % matches.length;
      renderResults();
      var option = $("search-option-" + active);
      if (option) { option.scrollIntoView({ block: "nearest" }); }
    } else if (e.key === "Enter") {
      e.preventDefault();
      var query = input.value.trim();
      if (!query) { return; }
      window.clearTimeout(timer);
      runSearch(query).then(decide);
    } else if (e.key === "Escape") {
      closeResults();
      showHint("");
    }
  });

  input.addEventListener("blur", function () {
    window.setTimeout(function () { closeResults(); showHint(""); }, 150);
  });
  input.addEventListener("focus", function () {
    if (matches.length && input.value.trim() === lastQuery) { renderResults(); }
  });

  /* the skip link: the first stop of the keyboard, straight to the search box */
  $("skip-link").addEventListener("click", function (e) {
    e.preventDefault();
    input.focus();
  });

  /* -- status filter ---------------------------------------------------------------------- */
  var filter = $("status-filter");
  var legendRows = document.querySelectorAll(".legend-row");

  var applied = "";

  function applyFilter(status) {
    if ((status || "") !== applied) {  // said aloud: how many units the filter leaves shown
      applied = status || "";
      var row = document.querySelector('.legend-row[data-status="' + applied + '"] .legend-count');
      announce(row ? T.announce_filter.replace("{n}", row.textContent)
        .replace("{status}", config.labels[applied]) : T.announce_all);
    }
    filter.value = status || "";
    legendRows.forEach(function (row) {
      row.setAttribute("aria-pressed", row.getAttribute("data-status") === status ? "true" : "false");
    });
    document.documentElement.setAttribute("data-filter", status || "");
    var box = $("filter");
    box.classList.toggle("active", !!status);
    box.style.setProperty("--dot", status ? config.colors[status] : "transparent");
    if (!geo.layer) { return; }
    geo.layer.geoApp.filter = status || null;
    restyle();
  }

  filter.addEventListener("change", function () { applyFilter(filter.value); });
  legendRows.forEach(function (row) {
    row.addEventListener("click", function () {
      var status = row.getAttribute("data-status");
      applyFilter(filter.value === status ? "" : status);
    });
  });

  /* -- unit names on the map when zoomed in (the map reads without a base map) ------------ */
  var LABEL_ZOOM = 10.5;
  var MAX_LABELS = 300;
  var labels = null;

  function drawLabels() {
    if (!geo.map || !geo.layer) { return; }
    if (!labels) { labels = L.layerGroup().addTo(geo.map); }
    labels.clearLayers();
    if (geo.map.getZoom() < LABEL_ZOOM) { return; }
    var view = geo.map.getBounds();
    var shown = 0;
    geo.layer.eachLayer(function (lyr) {
      if (shown >= MAX_LABELS || !view.intersects(lyr.getBounds())) { return; }
      var text = el("span", null, lyr.feature.properties.name);
      labels.addLayer(L.marker(lyr.getCenter(), {
        icon: L.divIcon({ className: "unit-label", html: text, iconSize: null }),
        interactive: false,
        keyboard: false
      }));
      shown += 1;
    });
  }

  document.addEventListener("geoapp:loaded", function () {
    geo.map.on("zoomend moveend", drawLabels);
    drawLabels();
  });

  /* -- layout ----------------------------------------------------------------------------- */
  var legend = $("legend");
  // a phone, or a screen too short for the legend beside the search: the legend starts closed
  var small = window.matchMedia("(max-width: 640px), (max-height: 500px)");
  if (small.matches) { legend.open = false; }
  showMessage(T.map_loading, false);

  /* the figures' date, the as-of control and the trend: a "Figures" button opens them where
   * the screen has no room to show them all the time (the stylesheet decides where) */
  var figuresMore = $("figures-more");
  var figures = figuresMore.parentNode;
  function showHistory(open) {
    figures.classList.toggle("history-open", open);
    figuresMore.setAttribute("aria-expanded", String(open));
    if (geo.map) { geo.map.invalidateSize({ pan: false }); }
  }
  figuresMore.addEventListener("click", function () {
    showHistory(!figures.classList.contains("history-open"));
  });

  /* -- printing (Ctrl+P): the whole province, the legend open; back as it was afterwards --- */
  var printing = null;
  function beforePrint() {
    if (printing || !geo.map) { return; }
    printing = { legend: legend.open, center: geo.map.getCenter(), zoom: geo.map.getZoom() };
    legend.open = true;
    geo.map.invalidateSize({ pan: false });
    if (geo.layer && geo.layer.getBounds().isValid()) {
      geo.map.fitBounds(geo.layer.getBounds(), { padding: [8, 8], animate: false });
    }
  }
  function afterPrint() {
    if (!printing) { return; }
    legend.open = printing.legend;
    geo.map.invalidateSize({ pan: false });
    geo.map.setView(printing.center, printing.zoom, { animate: false });
    printing = null;
  }
  window.addEventListener("beforeprint", beforePrint);
  window.addEventListener("afterprint", afterPrint);
  var printMedia = window.matchMedia("print");
  var onPrintMedia = function (e) { if (e.matches) { beforePrint(); } else { afterPrint(); } };
  if (printMedia.addEventListener) { printMedia.addEventListener("change", onPrintMedia); }
  else if (printMedia.addListener) { printMedia.addListener(onPrintMedia); }
  /* -- the deadline filter: a click on "overdue" or "due soon" fades the other units ------- */
  Array.prototype.forEach.call(document.querySelectorAll("button.deadline-count"), function (btn) {
    btn.setAttribute("aria-pressed", "false");
    btn.addEventListener("click", function () {
      if (!geo.layer) { return; }
      var state = btn.getAttribute("data-deadline");
      var on = geo.layer.geoApp.deadlineFilter !== state;
      geo.layer.geoApp.deadlineFilter = on ? state : null;
      Array.prototype.forEach.call(document.querySelectorAll("button.deadline-count"), function (b) {
        b.setAttribute("aria-pressed", String(on && b === btn));
      });
      restyle();
    });
  });
})();
