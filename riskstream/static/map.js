// A simple map in SVG: equirectangular projection (x = lon·cos(mid lat), y = −lat)
// fitted to the bounds of what is drawn; no tiles, no network.

import { svg } from "./charts.js";
import { utc } from "./format.js";

const KM_PER_DEG = 111.32;

// Whether (lat, lon) lies inside the polygon of [lat, lon] (ray casting).
export function inside(lat, lon, polygon) {
  let hit = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [ai, oi] = polygon[i];
    const [aj, oj] = polygon[j];
    if ((oi > lon) !== (oj > lon) && lat < ((aj - ai) * (lon - oi)) / (oj - oi) + ai) hit = !hit;
  }
  return hit;
}

function niceKm(km) {
  const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
  return steps.reverse().find((s) => s <= km) || 0.05;
}

/**
 * options: {geofence: [[lat, lon]] | null, location: [lat, lon] | null,
 *   tracks: [{device_id, positions: [{ts, lat, lon}]}], width, height}
 */
export function siteMap(options) {
  const width = options.width || 420;
  const height = options.height || 300;
  const pad = 24;
  const pts = [];
  if (options.geofence) pts.push(...options.geofence);
  if (options.location) pts.push(options.location);
  for (const t of options.tracks || []) for (const p of t.positions) pts.push([p.lat, p.lon]);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", class: "map", role: "img", "aria-label": "map" });
  root.appendChild(svg("rect", { x: 0, y: 0, width, height, class: "map-bg" }));
  if (pts.length === 0) {
    root.appendChild(svg("text", { x: width / 2, y: height / 2, class: "empty" }, "no geofence and no positions yet"));
    return root;
  }
  const lats = pts.map((p) => p[0]);
  const lons = pts.map((p) => p[1]);
  const latMin = Math.min(...lats), latMax = Math.max(...lats);
  const lonMin = Math.min(...lons), lonMax = Math.max(...lons);
  const k = Math.cos((((latMin + latMax) / 2) * Math.PI) / 180);
  const spanX = Math.max((lonMax - lonMin) * k, 1e-4);
  const spanY = Math.max(latMax - latMin, 1e-4);
  const scale = Math.min((width - 2 * pad) / spanX, (height - 2 * pad - 16) / spanY);
  const ox = (width - spanX * scale) / 2;
  const oy = (height - 16 - spanY * scale) / 2;
  const px = (lat, lon) => [ox + (lon - lonMin) * k * scale, oy + (latMax - lat) * scale];

  if (options.geofence) {
    const d = options.geofence.map((p, i) => (i ? "L" : "M") + px(p[0], p[1]).map((v) => v.toFixed(1)).join(" ")).join(" ") + " Z";
    root.appendChild(svg("path", { d, class: "geofence" }));
  }
  if (options.location) {
    const [x, y] = px(options.location[0], options.location[1]);
    root.appendChild(svg("rect", { x: x - 5, y: y - 5, width: 10, height: 10, class: "site-location" }));
  }
  for (const t of options.tracks || []) {
    if (t.positions.length === 0) continue;
    const d = t.positions.map((p, i) => (i ? "L" : "M") + px(p.lat, p.lon).map((v) => v.toFixed(1)).join(" ")).join(" ");
    root.appendChild(svg("path", { d, class: "track" }));
    for (const p of t.positions.slice(0, -1)) {
      const [x, y] = px(p.lat, p.lon);
      root.appendChild(svg("circle", { cx: x, cy: y, r: 2, class: "fix" }));
    }
    const last = t.positions[t.positions.length - 1];
    const [x, y] = px(last.lat, last.lon);
    const out = options.geofence && !inside(last.lat, last.lon, options.geofence);
    const dot = svg("circle", { cx: x, cy: y, r: 6, class: "last-fix" + (out ? " outside" : "") });
    dot.appendChild(svg("title", {}, t.device_id + " at " + utc(last.ts) + " UTC: " + last.lat.toFixed(5) + "°, " + last.lon.toFixed(5) + "°"));
    root.appendChild(dot);
  }
  // scale bar, bottom left
  const kmPerPx = KM_PER_DEG / scale;
  const km = niceKm(kmPerPx * (width / 4));
  const len = km / kmPerPx;
  const y0 = height - 10;
  root.appendChild(svg("line", { x1: pad, x2: pad + len, y1: y0, y2: y0, class: "scale" }));
  root.appendChild(svg("text", { x: pad + len + 6, y: y0 + 4, class: "scale-label" }, (km < 1 ? km * 1000 + " m" : km + " km")));
  root.appendChild(svg("text", { x: width - 6, y: y0 + 4, class: "scale-label end" }, "N ↑"));
  return root;
}
