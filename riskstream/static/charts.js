// Small SVG line charts: time on x (UTC), a value with its unit on y, optional
// threshold lines and a shaded window (the breach of an alert).

const SVG = "http://www.w3.org/2000/svg";
export const PALETTE = ["#2856a3", "#b3261e", "#1f8a4c", "#a15c00", "#6b3fa0", "#00798c"];

export function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// About `count` round tick values covering [lo, hi].
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

const TIME_STEPS = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

function timeTicks(t0, t1, count) {
  const step = TIME_STEPS.find((s) => (t1 - t0) / s <= count) || TIME_STEPS[TIME_STEPS.length - 1];
  const ticks = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ticks.push(t);
  return { ticks, step };
}

function timeLabel(t, step, span) {
  const iso = new Date(t * 1000).toISOString();
  if (step >= 86400) return iso.slice(5, 10);
  if (span > 86400) return iso.slice(5, 10) + " " + iso.slice(11, 16);
  return iso.slice(11, 16);
}

// A chart's drawing width: narrower on a phone, so its text stays legible when the SVG
// is scaled to the screen.
export function chartWidth() {
  return window.innerWidth < 600 ? 360 : 560;
}

// Decimals that tell ticks `step` apart: 0 for 50, 1 for 0.5, 5 for 0.00002.
export function stepDigits(step) {
  if (!(step > 0) || !Number.isFinite(step)) return 0;
  return Math.min(8, Math.max(0, Math.ceil(-Math.log10(step) - 1e-9)));
}

// Tick label with thousands separators and no suffix: an axis says "1,000" with its
// unit on the axis label, never "1 m" (metres?) or "850 k".
export function tickNumber(v, digits = 0) {
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const LABEL_CHAR_PX = 6.2; // a generous average width of one 10.5 px character

/**
 * options: {series: [{label, points: [[ts, value]], color}], unit, title,
 *   start, end (x domain, epoch s), thresholds: [{value, label}], shade: [t0, t1],
 *   yFormat (value -> text, without unit; default: the ticks' own decimals),
 *   labelFormat (value -> text for threshold labels and point titles), digits (fixed
 *   decimals for both, e.g. 5 for coordinates), yTicks (the tick values), width,
 *   height, yMin, yMax}
 * Every label stays inside the chart: the breach label moves to the shade's right edge
 * when it would run past the plot, threshold labels stay between the plot's top and
 * bottom. Each point has a tooltip (time, value and unit).
 */
export function lineChart(options) {
  const width = options.width || 560;
  const height = options.height || 220;
  const m = { top: 28, right: 16, bottom: 30, left: 64 };
  const series = options.series.filter((s) => s.points.length > 0);
  const allT = series.flatMap((s) => s.points.map((p) => p[0]));
  const t0 = options.start ?? Math.min(...allT);
  const t1 = options.end ?? Math.max(...allT);
  const values = series.flatMap((s) => s.points.map((p) => p[1]));
  for (const th of options.thresholds || []) values.push(th.value);
  let lo = options.yMin ?? Math.min(...values);
  let hi = options.yMax ?? Math.max(...values);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = 1; }
  if (hi === lo) { hi += Math.abs(hi) * 0.05 || 1; lo -= Math.abs(lo) * 0.05 || 1; }
  const pad = (hi - lo) * 0.08;
  if (options.yMin === undefined) lo -= pad;
  if (options.yMax === undefined) hi += pad;
  const x = (t) => m.left + ((t - t0) / Math.max(1e-9, t1 - t0)) * (width - m.left - m.right);
  const y = (v) => m.top + (1 - (v - lo) / (hi - lo)) * (height - m.top - m.bottom);
  const yTicks = (options.yTicks || niceTicks(lo, hi, 4)).filter((v) => v >= lo && v <= hi);
  const tickStep = yTicks.length > 1 ? yTicks[1] - yTicks[0] : Math.abs(hi - lo) / 4;
  const digits = options.digits ?? stepDigits(tickStep);
  const yFormat = options.yFormat || ((v) => tickNumber(v, digits));
  const upTo = (extra) => (v) => (options.digits !== undefined ? tickNumber(v, options.digits)
    : v.toLocaleString("en-US", { maximumFractionDigits: Math.min(digits + extra, 8) }));
  const labelFormat = options.labelFormat || upTo(1);
  const pointFormat = options.labelFormat || upTo(2);
  const withUnit = (text) => (options.unit ? text + (options.unit === "°" ? "" : " ") + options.unit : text);

  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, width: "100%", class: "chart", role: "img",
    "aria-label": (options.title || "chart") + (options.unit ? " in " + options.unit : ""),
  });
  root.appendChild(svg("title", {}, (options.title || "") + (options.unit ? " (" + options.unit + ")" : "")));
  const plotRight = width - m.right;
  if (options.shade && options.shade[1] >= options.shade[0]) {
    const a = Math.max(x(options.shade[0]), m.left);
    const b = Math.min(Math.max(x(options.shade[1]), a + 2), plotRight);
    root.appendChild(svg("rect", {
      x: a, y: m.top, width: Math.max(2, b - a), height: height - m.top - m.bottom, class: "breach",
    }));
    const text = "breach";
    const textWidth = text.length * LABEL_CHAR_PX;
    const fitsRight = a + 4 + textWidth <= plotRight - 2;
    // at the top of the plot, unless a threshold line runs there: then at its bottom or
    // its middle, whichever is clearer
    const lines = (options.thresholds || []).map((th) => y(th.value));
    const clearance = (base) => Math.min(Infinity, ...lines.map((ly) => Math.max(base - 9 - ly, ly - base - 2, 0)));
    const spots = [m.top + 12, height - m.bottom - 5, (m.top + height - m.bottom) / 2 + 4];
    const spot = clearance(spots[0]) >= 6 ? spots[0]
      : spots.reduce((best, s) => (clearance(s) > clearance(best) ? s : best));
    root.appendChild(svg("text", {
      x: fitsRight ? a + 4 : Math.max(m.left + textWidth + 4, Math.min(b, plotRight) - 4),
      y: spot, class: "breach-label" + (fitsRight ? "" : " end"),
    }, text));
  }
  for (const v of yTicks) {
    root.appendChild(svg("line", { x1: m.left, x2: plotRight, y1: y(v), y2: y(v), class: "grid" }));
    root.appendChild(svg("text", { x: m.left - 6, y: y(v) + 4, class: "tick y" }, yFormat(v)));
  }
  const { ticks, step } = timeTicks(t0, t1, Math.floor((width - m.left - m.right) / 70));
  for (const t of ticks) {
    root.appendChild(svg("line", { x1: x(t), x2: x(t), y1: height - m.bottom, y2: height - m.bottom + 4, class: "axis" }));
    root.appendChild(svg("text", { x: x(t), y: height - m.bottom + 16, class: "tick x" }, timeLabel(t, step, t1 - t0)));
  }
  root.appendChild(svg("line", { x1: m.left, x2: plotRight, y1: height - m.bottom, y2: height - m.bottom, class: "axis" }));
  root.appendChild(svg("text", { x: m.left, y: 14, class: "unit-label" },
    (options.title ? options.title + " " : "") + (options.unit ? "(" + options.unit + ")" : "")));
  root.appendChild(svg("text", { x: plotRight, y: height - 5, class: "tick x end" }, "UTC"));
  // threshold lines; a label goes above its line unless it would overlap the one above,
  // and never above the plot's top or below its bottom
  let previousLabelY = -Infinity;
  const sortedThresholds = [...(options.thresholds || [])].sort((p, q) => q.value - p.value);
  for (const th of sortedThresholds) {
    const ly = y(th.value);
    root.appendChild(svg("line", { x1: m.left, x2: plotRight, y1: ly, y2: ly, class: "threshold" }));
    let labelY = ly - 4 - previousLabelY < 12 ? ly + 12 : ly - 4;
    labelY = Math.min(Math.max(labelY, m.top + 10), height - m.bottom - 3);
    previousLabelY = labelY;
    root.appendChild(svg("text", { x: plotRight - 4, y: labelY, class: "threshold-label" },
      withUnit(th.label + " " + labelFormat(th.value))));
  }
  series.forEach((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    const d = s.points.map((p, j) => (j ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1)).join(" ");
    root.appendChild(svg("path", { d, class: "line", stroke: color }));
    if (s.points.length === 1) {
      const [pt] = s.points;
      root.appendChild(svg("circle", { cx: x(pt[0]), cy: y(pt[1]), r: 3, fill: color }));
    }
    // tooltips: an invisible dot on each point says its time and value
    const points = svg("g", { class: "points" });
    for (const [t, v] of s.points) {
      const dot = svg("circle", { cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: 4, class: "pt" });
      const iso = new Date(t * 1000).toISOString();
      dot.appendChild(svg("title", {}, (s.label ? s.label + " · " : "") + iso.slice(0, 16).replace("T", " ") + " UTC: " + withUnit(pointFormat(v))));
      points.appendChild(dot);
    }
    root.appendChild(points);
  });
  if (series.length === 0) {
    root.appendChild(svg("text", { x: width / 2, y: height / 2, class: "empty" }, "no readings in this window"));
  }
  return root;
}

// A legend for multi-series charts.
export function legend(series) {
  const box = document.createElement("div");
  box.className = "legend";
  series.forEach((s, i) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = s.color || PALETTE[i % PALETTE.length];
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(s.label));
    box.appendChild(item);
  });
  return box;
}
