"""The provincial map: a folium choropleth of the units by status, and the payloads it loads.

No Flask here. The web layer passes in URLs and labels and serves what these functions return.

The map is cheap to send and cheap to refresh:

* the geometry (`UnitGeometry.map_data`) depends only on the boundary set; it is encoded once,
  compactly (coordinates rounded to `COORD_DECIMALS`), and served with a long-lived cache;
* the statuses are a small per-revision payload (one status per listed unit) that the layer's
  style function colours each unit from (`StatusLayer`), so a status change re-renders a few
  kilobytes, never the polygons. They are embedded in the map's script, or, for a page that
  keeps its script static, read from a JSON data block of the page (`statuses_element`).

Element names are deterministic (`build_map`), so every worker renders the same script.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element
from folium.map import Layer
from folium.template import Template
from folium.utilities import JsCode
from shapely.geometry import mapping

from geo_app.core.names import search_key
from geo_app.core.programme import NOT_LISTED
from geo_app.errors import GeoAppError
from geo_app.webmap import topology
from geo_app.webmap.search import (  # noqa: F401  (re-exported)
    FormerEntry,
    SearchEntry,
    former_index,
    search,
)
from geo_app.webmap.styles import (  # noqa: F401  (re-exported)
    BASE_STYLE,
    HATCH_INK,
    HATCH_TILE,
    HATCH_WIDTH,
    SWATCH_PERIOD,
    pattern_id,
    status_labels,
    status_legend,
    status_patterns,
    status_styles,
    swatch_style,
)

LOGGER = logging.getLogger(__name__)

#: Decimals kept in coordinates sent to the browser (5 ≈ 1 m; display geometry is simplified
#: at 150 m, so nothing visible is lost).
COORD_DECIMALS = 5
#: Above this many units the map draws on a canvas instead of one SVG path per unit.
CANVAS_ABOVE = 1000

#: Style merged over the units a status filter leaves out.
FADED_STYLE: dict[str, Any] = {"fillOpacity": 0.12, "opacity": 0.2}
#: Style merged over the unit under the pointer.
HOVER_STYLE: dict[str, Any] = {"weight": 2.2, "opacity": 1, "color": "#111111"}
#: Style merged over the selected unit.
SELECTED_STYLE: dict[str, Any] = {"weight": 3.2, "opacity": 1, "color": "#0B3D91"}
#: Outlines that mark a unit besides its fill: a deadline passed or near, a change since a day.
#: Dashed, so they read without colour; the legend explains them.
MARK_STYLES: dict[str, dict[str, Any]] = {
    "overdue": {"color": "#B00000", "weight": 2.6, "opacity": 1, "dashArray": "6 3"},
    "due_soon": {"color": "#7A5200", "weight": 2.0, "opacity": 1, "dashArray": "2 3"},
    "changed": {"color": "#111111", "weight": 3.0, "opacity": 1},
}

#: What a click on a unit does: tell the page, which opens the unit's panel.
SELECT_ON_CLICK = JsCode(
    """function (feature, layer) {
        layer.on("click", function () {
            document.dispatchEvent(new CustomEvent("geoapp:select", {
                detail: {code: feature.properties.code, source: "map"}
            }));
        });
    }"""
)


class UnitGeometry:
    """The display geometry of one boundary set, encoded once for the browser.

    Parameters
    ----------
    key:
        Identifies the boundary set and its display settings (`boundaries.Display.key`).
    units:
        GeoDataFrame in EPSG:4326 with ``code``, ``name``, ``kind`` and geometry.
    decimals:
        Decimals kept in coordinates.
    """

    def __init__(self, key: str, units: gpd.GeoDataFrame, decimals: int = COORD_DECIMALS):
        self.key = key
        self.codes: list[str] = [str(c) for c in units["code"]]
        self.names: list[str] = [str(n) for n in units["name"]]
        self.kinds: list[str] = [str(k) for k in units["kind"]]
        self.code_set = frozenset(self.codes)
        self.by_code: dict[str, int] = {c: i for i, c in enumerate(self.codes)}
        geoms = shapely.transform(
            np.asarray(units.geometry.values), lambda xy: np.round(xy, decimals)
        )
        # json.dumps writes each rounded float at its shortest (GEOS would write 19.813110000000002)
        self.geometry_json: list[str] = [
            json.dumps(mapping(g), separators=(",", ":")) for g in geoms
        ]
        self._geoms = np.asarray(units.geometry.values)
        self.vertices = int(shapely.get_num_coordinates(geoms).sum())
        minx, miny, maxx, maxy = (float(v) for v in units.total_bounds)
        #: [[south, west], [north, east]] as Leaflet wants them.
        self.bounds = [[round(miny, 5), round(minx, 5)], [round(maxy, 5), round(maxx, 5)]]
        self.search_index = [
            SearchEntry(c, k, n, search_key(n), search_key(f"{k} {n}"))
            for c, k, n in zip(self.codes, self.kinds, self.names, strict=True)
        ]

    def __len__(self) -> int:
        return len(self.codes)

    def cache_weight(self) -> int:
        return sum(len(g) for g in self.geometry_json)

    def _collection(self, properties: Iterable[dict[str, Any]]) -> bytes:
        parts = [
            '{"type":"Feature","properties":'
            + json.dumps(props, ensure_ascii=False, separators=(",", ":"))
            + ',"geometry":'
            + geom
            + "}"
            for props, geom in zip(properties, self.geometry_json, strict=True)
        ]
        return ('{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}").encode()

    def map_data(self) -> bytes:
        """Return the GeoJSON the map loads: every unit with ``code``, ``name``, ``kind``."""
        return self._collection(
            {"code": c, "name": n, "kind": k}
            for c, n, k in zip(self.codes, self.names, self.kinds, strict=True)
        )

    def topology_data(self) -> bytes:
        """Return what the map loads: every unit (``code``, ``name``, ``kind``) as TopoJSON,
        each shared border once, quantised (`geo_app.webmap.topology`): a third of the GeoJSON
        gzip-compressed."""
        return topology.dumps(
            topology.encode(
                self._geoms,
                (
                    {"code": c, "name": n, "kind": k}
                    for c, n, k in zip(self.codes, self.names, self.kinds, strict=True)
                ),
            )
        )

    def communes_geojson(
        self, statuses: Mapping[str, str], lang: str = "vi", programme: str | None = None
    ) -> bytes:
        """Return the API's GeoJSON: every unit with its status and status label in `lang`."""
        labels = status_labels(lang, programme)
        return self._collection(
            {
                "code": c,
                "name": n,
                "kind": k,
                "status": statuses.get(c, NOT_LISTED),
                "status_label": labels[statuses.get(c, NOT_LISTED)],
            }
            for c, n, k in zip(self.codes, self.names, self.kinds, strict=True)
        )

    def unit(self, code: str) -> dict[str, str] | None:
        """Return code, name and kind of one unit, or None when the set has no such code."""
        i = self.by_code.get(code)
        if i is None:
            return None
        return {"code": self.codes[i], "name": self.names[i], "kind": self.kinds[i]}


# -- the folium map -------------------------------------------------------------------------
class StatusLayer(Layer):
    """A folium GeoJSON layer that loads its geometry from a URL and colours it by status.

    The labels and styles are embedded; the statuses too, unless `statuses_element` names the
    ``<script type="application/json">`` element of the page that holds them. The polygons are
    fetched once from `data_url` (long-lived, cacheable), so the rendered map does not grow
    with them.
    A hatched status (`status_patterns`) is filled with its SVG pattern: its colour under its
    lines, the same the print exports draw, so the grave statuses read without colour.
    Each unit gets a tooltip (kind, name, status label); `on_each_feature` is called for each
    unit as in `folium.GeoJson`. The page can fade units (``layer.geoApp.filter``), mark the
    selected one (``layer.geoApp.selected``) and call ``layer.resetStyle()``.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var map = {{ this._parent.get_name() }};
            var state = {
                {%- if this.statuses_element %}
                statuses: JSON.parse(
                    document.getElementById({{ this.statuses_element|tojson }}).textContent
                ),
                {%- else %}
                statuses: {{ this.statuses|tojson }},
                {%- endif %}
                {%- if this.marks_element %}
                marks: JSON.parse(
                    document.getElementById({{ this.marks_element|tojson }}).textContent
                ),
                {%- else %}
                marks: {deadline: {}, changed: null},
                {%- endif %}
                markStyles: {{ this.mark_styles|tojson }},
                deadlineFilter: null,
                labels: {{ this.labels|tojson }},
                styles: {{ this.styles|tojson }},
                faded: {{ this.faded|tojson }},
                hoverStyle: {{ this.hover|tojson }},
                selectedStyle: {{ this.selected|tojson }},
                fallback: {{ this.fallback|tojson }},
                patterns: {{ this.patterns|tojson }},
                filter: null,
                selected: null,
                hover: null
            };
            function statusOf(feature) {
                return state.statuses[feature.properties.code] || state.fallback;
            }
            function style(feature) {
                var code = feature.properties.code, status = statusOf(feature);
                var s = Object.assign({}, state.styles[status]);
                // a hatched status: its colour under its lines (an SVG pattern, addPatterns)
                if (state.patterns[status]) {
                    s.fillColor = "url(#" + state.patterns[status].id + ")";
                }
                var mark = state.marks.deadline[code];
                if (mark && state.markStyles[mark]) { Object.assign(s, state.markStyles[mark]); }
                if (state.marks.changed) {  // ?since=: the units that changed stand out
                    if (state.marks.changed.indexOf(code) >= 0) {
                        Object.assign(s, state.markStyles.changed);
                    } else {
                        Object.assign(s, state.faded);
                    }
                }
                if (state.filter && state.filter !== status) { Object.assign(s, state.faded); }
                if (state.deadlineFilter && state.deadlineFilter !== mark) {
                    Object.assign(s, state.faded);
                }
                if (code === state.hover) { Object.assign(s, state.hoverStyle); }
                if (code === state.selected) { Object.assign(s, state.selectedStyle); }
                return s;
            }
            function tooltip(lyr) {
                var p = lyr.feature.properties, status = statusOf(lyr.feature);
                var box = document.createElement("div");
                var title = document.createElement("strong");
                title.textContent = p.kind + " " + p.name;
                var line = document.createElement("span");
                line.className = "unit-tip-status";
                var dot = document.createElement("i");
                dot.style.background = state.styles[status].fillColor;
                line.appendChild(dot);
                line.appendChild(document.createTextNode(state.labels[status]));
                box.appendChild(title);
                box.appendChild(line);
                return box;
            }
            var layer = L.geoJson(null, {
                style: style,
                {%- if this.smooth_factor is not none %}
                smoothFactor: {{ this.smooth_factor|tojson }},
                {%- endif %}
                onEachFeature: function (feature, lyr) {
                    lyr.bindTooltip(tooltip, {
                        sticky: true, direction: "top", offset: [0, -10], className: "unit-tip"
                    });
                    lyr.on({
                        mouseover: function () {
                            state.hover = feature.properties.code;
                            layer.resetStyle(lyr);
                        },
                        mouseout: function () {
                            state.hover = null;
                            layer.resetStyle(lyr);
                        }
                    });
                    {%- if this.on_each_feature %}
                    ({{ this.on_each_feature }})(feature, lyr);
                    {%- endif %}
                }
            });
            // the hatched statuses' patterns, in the <defs> of the SVG the units are drawn in
            function addPatterns() {
                var codes = Object.keys(state.patterns);
                var svg = map.getPanes().overlayPane.querySelector("svg");
                if (!codes.length || !svg) { return; }
                function make(tag, attrs) {
                    var node = document.createElementNS(svg.namespaceURI, tag);
                    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
                    return node;
                }
                var defs = svg.querySelector("defs");
                if (!defs) { defs = svg.insertBefore(make("defs", {}), svg.firstChild); }
                codes.forEach(function (code) {
                    var p = state.patterns[code], size = p.size;
                    if (document.getElementById(p.id)) { return; }
                    var pattern = make("pattern", {
                        id: p.id, patternUnits: "userSpaceOnUse", width: size, height: size
                    });
                    pattern.setAttribute("data-status", code);
                    pattern.appendChild(make("rect", {width: size, height: size, fill: p.color}));
                    pattern.appendChild(make("path", {
                        d: p.d, stroke: p.ink, "stroke-width": p.width, fill: "none"
                    }));
                    defs.appendChild(pattern);
                });
            }
            layer.geoApp = state;
            layer.geoAppStatusOf = statusOf;
            var root = document.documentElement;
            root.setAttribute("data-map-state", "loading");
            // TopoJSON (geo_app/webmap/topology.py): arcs delta-encoded on a grid, each
            // border once; rebuilt here into the GeoJSON features Leaflet draws
            function fromTopology(topo) {
                var sx = topo.transform.scale[0], sy = topo.transform.scale[1];
                var tx = topo.transform.translate[0], ty = topo.transform.translate[1];
                var arcs = topo.arcs.map(function (arc) {
                    var x = 0, y = 0, out = new Array(arc.length);
                    for (var i = 0; i < arc.length; i++) {
                        x += arc[i][0]; y += arc[i][1];
                        out[i] = [x * sx + tx, y * sy + ty];
                    }
                    return out;
                });
                function ring(ids) {
                    var pts = [];
                    for (var n = 0; n < ids.length; n++) {
                        var i = ids[n], a = i >= 0 ? arcs[i] : arcs[~i].slice().reverse();
                        for (var k = n ? 1 : 0; k < a.length; k++) { pts.push(a[k]); }
                    }
                    return pts;
                }
                var name = Object.keys(topo.objects)[0];
                return {
                    type: "FeatureCollection",
                    features: topo.objects[name].geometries.map(function (g) {
                        var coords = g.type === "Polygon"
                            ? g.arcs.map(ring)
                            : g.arcs.map(function (p) { return p.map(ring); });
                        return {
                            type: "Feature", properties: g.properties,
                            geometry: {type: g.type, coordinates: coords}
                        };
                    })
                };
            }
            fetch({{ this.data_url|tojson }}, {credentials: "same-origin"})
                .then(function (response) {
                    if (!response.ok) { throw new Error("HTTP " + response.status); }
                    return response.json();
                })
                .then(function (data) {
                    if (data.type === "Topology") { data = fromTopology(data); }
                    layer.addData(data);
                    addPatterns();
                    root.setAttribute("data-map-state", "ready");
                    document.dispatchEvent(new CustomEvent("geoapp:loaded", {
                        detail: {map: map, layer: layer, count: data.features.length}
                    }));
                })
                .catch(function (error) {
                    root.setAttribute("data-map-state", "error");
                    document.dispatchEvent(new CustomEvent("geoapp:error", {
                        detail: {error: String(error)}
                    }));
                });
            document.dispatchEvent(new CustomEvent("geoapp:layer", {
                detail: {map: map, layer: layer}
            }));
            return layer;
        })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        data_url: str,
        statuses: Mapping[str, str] | None,
        labels: Mapping[str, str],
        on_each_feature: JsCode | None = None,
        smooth_factor: float | None = None,
        name: str | None = None,
        statuses_element: str | None = None,
        styles: Mapping[str, Mapping[str, Any]] | None = None,
        marks_element: str | None = None,
        patterns: Mapping[str, Mapping[str, Any]] | None = None,
    ):
        super().__init__(name=name, overlay=True, control=False, show=True)
        if (statuses is None) == (statuses_element is None):
            raise ValueError("give either statuses or statuses_element")
        self._name = "StatusLayer"
        self.data_url = data_url
        self.statuses = dict(sorted(statuses.items())) if statuses is not None else None
        self.statuses_element = statuses_element
        self.labels = dict(labels)
        self.styles = dict(styles) if styles is not None else status_styles()
        self.marks_element = marks_element
        self.patterns = dict(patterns or {})
        self.mark_styles = MARK_STYLES
        self.faded = FADED_STYLE
        self.hover = HOVER_STYLE
        self.selected = SELECTED_STYLE
        self.fallback = NOT_LISTED
        self.on_each_feature = on_each_feature
        self.smooth_factor = smooth_factor

    def to_dict(self, depth: int = -1, **kwargs: Any) -> dict[str, Any]:
        out = super().to_dict(depth=depth, **kwargs)
        out.update(
            data_url=self.data_url,
            statuses=self.statuses,
            statuses_element=self.statuses_element,
            labels=self.labels,
        )
        return out


@dataclass(frozen=True)
class Assets:
    """URLs the app serves its own copies of the map's scripts and stylesheets from."""

    leaflet_js: str
    leaflet_css: str
    jquery_js: str


def tile_layer(tiles: str, attribution: str = "") -> folium.TileLayer | None:
    """Return the base map of the ``GEO_APP_TILES`` setting, or None for ``none``.

    Parameters
    ----------
    tiles:
        ``none``, ``osm``, or a URL template with ``{z}``, ``{x}`` and ``{y}``.
    attribution:
        Attribution shown for a URL template.

    Raises
    ------
    GeoAppError
        When the setting is none of those (status 500: the deployment must fix it).
    """
    value = (tiles or "none").strip()
    if value.lower() == "none":
        return None
    if value.lower() == "osm":
        return folium.TileLayer("OpenStreetMap", max_zoom=18)
    if all(p in value for p in ("{z}", "{x}", "{y}")):
        return folium.TileLayer(tiles=value, attr=attribution or value, max_zoom=18)
    raise GeoAppError(
        f"GEO_APP_TILES is {value!r}: use 'none', 'osm' or a URL template with {{z}}, {{x}}, {{y}}",
        status=500,
    )


def build_map(
    geometry: UnitGeometry,
    data_url: str,
    statuses: Mapping[str, str] | None,
    lang: str,
    assets: Assets,
    tiles: str = "none",
    tile_attribution: str = "",
    statuses_element: str | None = None,
    programme: str | None = None,
    marks_element: str | None = None,
) -> folium.Map:
    """Return the folium map of the boundary set coloured by a programme's statuses.

    Parameters
    ----------
    data_url:
        Where the browser fetches `geometry.map_data()`.
    statuses:
        Status of every listed unit by code (`current_statuses`), embedded in the script; or
        None with `statuses_element`, the id of the page's JSON element holding them.
    lang:
        Language of the status labels in tooltips ("vi" or "en").
    assets:
        The app's own copies of Leaflet (and jQuery, only if the map's script needs it).
    tiles:
        The ``GEO_APP_TILES`` setting.
    programme:
        Whose statuses, labels and palette colour the units (the default programme when None).
    """
    base = tile_layer(tiles, tile_attribution)
    m = folium.Map(
        location=[
            (geometry.bounds[0][0] + geometry.bounds[1][0]) / 2,
            (geometry.bounds[0][1] + geometry.bounds[1][1]) / 2,
        ],
        zoom_start=8,
        tiles=base,
        control_scale=True,
        zoom_control="topright",
        prefer_canvas=len(geometry) > CANVAS_ABOVE,
        zoomSnap=0.25,
        minZoom=4,
        maxZoom=18,
    )
    # Only Leaflet: folium's defaults (CDN Leaflet, jQuery, Bootstrap, Font Awesome,
    # awesome-markers) would each be a request leaving the intranet.
    m.default_js = [("leaflet", assets.leaflet_js)]
    m.default_css = [("leaflet_css", assets.leaflet_css)]
    layer = StatusLayer(
        data_url,
        statuses,
        status_labels(lang, programme),
        on_each_feature=SELECT_ON_CLICK,
        name="units",
        statuses_element=statuses_element,
        styles=status_styles(programme),
        marks_element=marks_element,
        # SVG patterns need the SVG renderer; a canvas (a national-scale map) stays plain
        patterns=status_patterns(programme) if len(geometry) <= CANVAS_ABOVE else None,
    )
    layer.add_to(m)
    m.fit_bounds(geometry.bounds, padding=(12, 12))
    _name_deterministically(m.get_root())
    return m


def _name_deterministically(root: Element) -> None:
    """Replace folium's random element ids by their position in the tree."""
    counter = 0

    def walk(element: Element) -> None:
        nonlocal counter
        counter += 1
        element._id = f"{counter:04x}"
        for child in element._children.values():
            walk(child)

    walk(root)


@dataclass(frozen=True)
class MapParts:
    """A rendered folium map, in the three parts a page template places."""

    header: str
    html: str
    script: str
    map_name: str


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
#: folium's viewport tag forbids zooming (user-scalable=no): the page gives its own, which allows
#: pinch-zoom.
_VIEWPORT_META = re.compile(r"<meta\s+name=\"viewport\"[^>]*>\s*", re.S)


def render_parts(m: folium.Map, assets: Assets) -> MapParts:
    """Render `m` into header (stylesheets, scripts by URL), body HTML and script.

    The header keeps no inline script (folium's global switches move to the script), so a page
    can serve the script as a file under a strict Content-Security-Policy, and no viewport tag
    (folium's forbids pinch-zoom; the page sets its own). jQuery is added
    (from the app) only when the rendered script uses it.
    """
    root = m.get_root()
    root.render()
    header = root.header.render()
    moved = [block.strip() for block in _INLINE_SCRIPT.findall(header)]
    header = _INLINE_SCRIPT.sub("", header)
    header = _VIEWPORT_META.sub("", header)
    script = "\n".join([*moved, root.script.render()])
    if "$(" in script or "$." in script or "jQuery" in script:
        header = f'<script src="{assets.jquery_js}"></script>\n' + header
    return MapParts(header, root.html.render(), script, m.get_name())
