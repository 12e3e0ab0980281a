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
export function measured(value, unit) {
  if (value === null || value === undefined) return "–";
  const abs = Math.abs(value);
  const digits = Number.isInteger(value) || abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 1 ? 2 : 4;
  const text = num(value, digits);
  return unit ? text + " " + unit : text;
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
