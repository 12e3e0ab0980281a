// Number and time formatting: every figure the dashboard shows carries its unit.

const grouped = (digits) => new Intl.NumberFormat("en-US", {
  minimumFractionDigits: digits, maximumFractionDigits: digits,
});

export function num(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return grouped(digits).format(value);
}

export function money(amount, currency) {
  if (amount === null || amount === undefined) return "–";
  return currency + " " + num(amount, 0);
}

// Short money for tiles and axes: EUR 6.80 m, EUR 750 k.
export function moneyShort(amount, currency) {
  if (amount === null || amount === undefined) return "–";
  const abs = Math.abs(amount);
  if (abs >= 1e9) return currency + " " + num(amount / 1e9, 2) + " bn";
  if (abs >= 1e6) return currency + " " + num(amount / 1e6, 2) + " m";
  if (abs >= 1e4) return currency + " " + num(amount / 1e3, 0) + " k";
  return money(amount, currency);
}

export function pct(ratio, digits = 0) {
  if (ratio === null || ratio === undefined) return "–";
  return num(ratio * 100, digits) + " %";
}

export function qty(value, unit, digits = 1) {
  if (value === null || value === undefined) return "–";
  return num(value, digits) + " " + unit;
}

// Value with the unit of a metric; picks sensible decimals for the magnitude.
// Coordinates (°) keep 5 decimals, about a metre, as the alert reasons give them.
export function measured(value, unit) {
  if (value === null || value === undefined) return "–";
  if (unit === DEGREES) return coordinate(value);
  const abs = Math.abs(value);
  const digits = Number.isInteger(value) || abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 1 ? 2 : 4;
  const text = num(value, digits);
  return unit ? text + " " + unit : text;
}

export const DEGREES = "°";
export const COORDINATE_DIGITS = 5;

export function coordinate(value) {
  if (value === null || value === undefined) return "–";
  return value.toFixed(COORDINATE_DIGITS) + DEGREES;
}

// One unit per quantity on a page: masses in kg, or in t when the page's largest mass
// is 10 t or more (1,000,000 kg reads 1,000 t, never "1 m").
const KG_PER = { kg: 1, t: 1000 };
const TONNES_FROM_KG = 10000;

export function isMass(unit) {
  return Object.hasOwn(KG_PER, unit || "");
}

export function massUnitFor(kgValues) {
  const largest = Math.max(0, ...kgValues.filter(Number.isFinite).map(Math.abs));
  return largest >= TONNES_FROM_KG ? "t" : "kg";
}

// [value, unit] of a figure in the page's mass unit (other units pass unchanged).
export function inMassUnit(value, unit, massUnit) {
  if (!isMass(unit) || !isMass(massUnit) || value === null || value === undefined) return [value, unit];
  return [(value * KG_PER[unit]) / KG_PER[massUnit], massUnit];
}

// Binary readings read as their states: door closed/open, ignition off/on.
export const STATES = { door_open: ["door", "closed", "open"], ignition: ["ignition", "off", "on"] };

export function isBinary(metric) {
  return Object.hasOwn(STATES, metric);
}

// "door open", "ignition off"; a mean over a bucket (0–1) reads as the share of time on.
export function stateText(metric, value) {
  const [name, off, on] = STATES[metric];
  if (value === null || value === undefined) return name + " –";
  if (value <= 0) return name + " " + off;
  if (value >= 1) return name + " " + on;
  return name + " " + on + " " + num(value * 100, 0) + " % of the time";
}

export function utc(epochSeconds, withSeconds = false) {
  if (epochSeconds === null || epochSeconds === undefined) return "–";
  const iso = new Date(epochSeconds * 1000).toISOString();
  return iso.slice(0, withSeconds ? 19 : 16).replace("T", " ");
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return s + " s";
  if (s < 90 * 60) return Math.round(s / 60) + " min";
  if (s < 48 * 3600) return num(s / 3600, 1) + " h";
  return num(s / 86400, 1) + " d";
}

export function kindLabel(kind) {
  return kind.replaceAll("_", " ");
}

// A DOM element with class and text; children appended in order.
export function el(tag, className, text, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  for (const child of children) if (child) node.appendChild(child);
  return node;
}

export function severityBadge(severity) {
  return el("span", "sev " + severity, severity);
}

// A table that shows each row as a card on a narrow screen (pages.css `cards-narrow`):
// every cell is labelled with its column's heading.
export function cardsOnNarrow(table) {
  const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
  for (const tr of table.querySelectorAll("tbody tr")) {
    [...tr.cells].forEach((td, i) => { if (heads[i] && !td.dataset.label) td.dataset.label = heads[i]; });
  }
  table.classList.add("cards-narrow");
  return table;
}
