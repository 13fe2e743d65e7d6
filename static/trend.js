/* The small trend chart above the map: units per status at each month's end (an SVG drawn
 * here from GET /api/trend; no library), a legend naming every series, and the same figures
 * as a table (for the keyboard and screen readers). Redrawn after a change made in the side
 * panel. The SVG is drawn at the box's width in pixels, so its text keeps its size (12 px). */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("geoapp-config").textContent);
  var box = document.getElementById("trend-chart");
  if (!box) { return; }
  var NS = "http://www.w3.org/2000/svg";
  var legendBox = document.getElementById("trend-legend");
  var table = document.getElementById("trend-table");
  var W = 240, H = 72, PAD = { left: 26, right: 4, top: 6, bottom: 16 };
  var last = null;

  function node(tag, attrs, text) {
    var n = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) { n.textContent = text; }
    return n;
  }

  function shortDate(iso) {
    var p = iso.split("-");
    return config.lang === "vi" ? p[1] + "/" + p[0] : p[0] + "-" + p[1];
  }

  function html(tag, className, text) {
    var n = document.createElement(tag);
    if (className) { n.className = className; }
    if (text !== undefined) { n.textContent = text; }
    return n;
  }

  /* every series named beside its colour */
  function drawLegend(data, statuses) {
    if (!legendBox) { return; }
    legendBox.textContent = "";
    statuses.forEach(function (s) {
      var item = html("li");
      item.setAttribute("data-status", s);
      var swatch = html("span", "trend-swatch");
      swatch.style.background = data.colors[s];
      item.appendChild(swatch);
      item.appendChild(html("span", "trend-legend-label", data.labels[s]));
      legendBox.appendChild(item);
    });
  }

  /* the same figures as a table: a row per month, a column per status */
  function drawTable(data, statuses) {
    if (!table) { return; }
    var head = table.tHead, body = table.tBodies[0];
    head.textContent = "";
    body.textContent = "";
    var row = html("tr");
    var corner = html("th", null, config.text.trend_month);
    corner.scope = "col";
    row.appendChild(corner);
    statuses.forEach(function (s) {
      var th = html("th", null, data.labels[s]);
      th.scope = "col";
      th.setAttribute("data-status", s);
      row.appendChild(th);
    });
    head.appendChild(row);
    var fmt = new Intl.NumberFormat(config.lang === "vi" ? "vi-VN" : "en-US");
    data.points.slice().reverse().forEach(function (p) {  // the newest month first
      var tr = html("tr");
      var month = html("th", null, shortDate(p.date));
      month.scope = "row";
      tr.appendChild(month);
      statuses.forEach(function (s) { tr.appendChild(html("td", null, fmt.format(p.counts[s]))); });
      body.appendChild(tr);
    });
  }

  function draw(data) {
    last = data;
    box.textContent = "";
    var points = data.points;
    var statuses = Object.keys(data.colors);
    drawLegend(data, statuses);
    drawTable(data, statuses);
    if (!points.length) {
      box.appendChild(document.createTextNode(config.text.trend_empty));
      return;
    }
    W = Math.max(80, Math.floor(box.getBoundingClientRect().width) || 240);
    var max = 1;
    points.forEach(function (p) {
      statuses.forEach(function (s) { max = Math.max(max, p.counts[s]); });
    });
    var n = points.length;
    var x = function (i) {
      return PAD.left + (n === 1 ? 0 : i * (W - PAD.left - PAD.right) / (n - 1));
    };
    var y = function (v) { return PAD.top + (1 - v / max) * (H - PAD.top - PAD.bottom); };
    var svg = node("svg", {
      viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
      "aria-label": config.text.trend_title, "class": "trend-svg"
    });
    svg.appendChild(node("line", { x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0),
      stroke: "#c4ced9", "stroke-width": 1 }));
    svg.appendChild(node("text", { x: PAD.left - 3, y: y(max) + 9, "text-anchor": "end",
      "class": "trend-axis" }, String(max)));
    svg.appendChild(node("text", { x: PAD.left - 3, y: y(0), "text-anchor": "end",
      "class": "trend-axis" }, "0"));
    svg.appendChild(node("text", { x: PAD.left, y: H - 2, "class": "trend-axis" },
      shortDate(points[0].date)));
    svg.appendChild(node("text", { x: W - PAD.right, y: H - 2, "text-anchor": "end",
      "class": "trend-axis" }, shortDate(points[n - 1].date)));
    statuses.forEach(function (s) {
      var d = points.map(function (p, i) { return x(i).toFixed(1) + "," + y(p.counts[s]).toFixed(1); });
      var line = node("polyline", { points: d.join(" "), fill: "none", stroke: data.colors[s],
        "stroke-width": 1.8, "stroke-linejoin": "round", "data-status": s });
      var last = points[n - 1];
      line.appendChild(node("title", {}, data.labels[s] + ": " + last.counts[s]));
      svg.appendChild(line);
    });
    // months whose changes took the import day as their date (their file gave none): marked,
    // so a jump there is read as "recorded then", not "happened then"
    var imported = [];
    points.forEach(function (p, i) {
      if (!p.import_dated) { return; }
      imported.push(p.date);
      var mark = node("path", {
        d: "M" + (x(i) - 3).toFixed(1) + "," + (y(0) + 6).toFixed(1) + " l3,-5 l3,5 z",
        fill: "#5b6775", "class": "trend-import", "data-date": p.date
      });
      mark.appendChild(node("title", {}, config.text.trend_import.replace("{n}", p.import_dated)));
      svg.appendChild(mark);
    });
    box.appendChild(svg);
    if (imported.length) {
      var note = document.createElement("p");
      note.className = "trend-note";
      note.textContent = "▲ " + config.text.trend_import_note;
      box.appendChild(note);
    }
    box.setAttribute("data-import-dated", imported.join(" "));
    box.setAttribute("data-points", String(n));
    box.setAttribute("data-last", JSON.stringify(points[n - 1].counts));
  }

  function load() {
    var prog = config.programme && config.programme !== "hotspot"
      ? "&programme=" + encodeURIComponent(config.programme) : "";
    var url = config.api.trend + "?lang=" + config.lang + prog +
      (config.as_of ? "&as_of=" + encodeURIComponent(config.as_of) : "");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(draw)
      .catch(function () { box.textContent = ""; });
  }

  // the table opens over the map: Escape closes it, and the focus stays on its toggle
  var tableBox = document.getElementById("trend-table-box");
  if (tableBox) {
    tableBox.addEventListener("keydown", function (e) {
      if (e.key !== "Escape" || !tableBox.open) { return; }
      e.stopPropagation();
      tableBox.open = false;
      tableBox.querySelector("summary").focus();
    });
  }

  document.addEventListener("geoapp:changed", load);
  var resized = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resized);
    resized = window.setTimeout(function () { if (last) { draw(last); } }, 200);
  });
  load();
})();
