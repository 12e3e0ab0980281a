// Hash routing between the pages: #/alerts (the live feed), #/portfolio,
// #/borrower/ID[?alert=ID], #/map, #/rules, #/notifications. Other pages register themselves with
// `registerPage`.

import { renderBorrower } from "./page-borrower.js";
import { renderMap } from "./page-map.js";
import { renderNotifications } from "./page-notifications.js";
import { renderPortfolio } from "./page-portfolio.js";
import { renderRules } from "./page-rules.js";

const pages = new Map();
let shown = null;
let started = false;

export function registerPage(name, render) {
  pages.set(name, render);
  const link = document.querySelector(`#nav a[data-page="${name}"]`);
  if (link) link.hidden = false;
  if (started && parseHash(location.hash).name === name) show();
}

export function parseHash(hash) {
  const [path, query] = (hash || "").replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/").filter(Boolean);
  return {
    name: name || "alerts",
    arg: rest.length ? decodeURIComponent(rest.join("/")) : null,
    params: new URLSearchParams(query || ""),
  };
}

async function show() {
  if (!window.riskstream || !window.riskstream.ready) return;
  const route = parseHash(location.hash);
  const name = pages.has(route.name) || route.name === "alerts" ? route.name : "alerts";
  for (const section of document.querySelectorAll("#main > .page")) {
    section.hidden = section.id !== "page-" + name;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    const active = link.dataset.page === name || (name === "borrower" && link.dataset.page === "portfolio");
    link.classList.toggle("active", active);
    if (active) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  shown = route;
  const render = pages.get(name);
  if (!render) return;
  const section = document.getElementById("page-" + name);
  try {
    await render(section, route.arg, route.params);
  } catch (err) {
    if (shown !== route) return;
    const p = document.createElement("p");
    p.className = "error page-error";
    p.textContent = "Could not load this page: " + err.message;
    section.replaceChildren(p);
  }
}

registerPage("portfolio", renderPortfolio);
registerPage("borrower", renderBorrower);
registerPage("map", renderMap);
registerPage("rules", renderRules);
registerPage("notifications", renderNotifications);
window.addEventListener("hashchange", show);
document.addEventListener("riskstream:ready", show);
started = true;
show();
