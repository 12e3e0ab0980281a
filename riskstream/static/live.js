// Pages that follow the live feed: re-render when an alert is raised or changes (the
// `riskstream:alert` event app.js dispatches), at most once per REFRESH_MS, and only
// while the page is on screen. A change during a refresh triggers one more afterwards.

export const REFRESH_MS = 2000;

/**
 * sectionId: the page's section; wants(alert): whether this alert concerns what the
 * page shows; refresh(section): re-renders it (errors keep the page as it was).
 * Returns a function that asks for a refresh without an alert.
 */
export function refreshOnAlerts(sectionId, wants, refresh) {
  let last = 0;
  let timer = null;
  let running = false;
  let pending = false;
  const visible = () => {
    const section = document.getElementById(sectionId);
    const loggedIn = !document.getElementById("main").hidden;
    return section && !section.hidden && loggedIn ? section : null;
  };
  const schedule = () => {
    if (timer !== null) return;
    timer = setTimeout(run, Math.max(0, last + REFRESH_MS - Date.now()));
  };
  async function run() {
    timer = null;
    if (running) { pending = true; return; }
    const section = visible();
    if (!section) return;
    running = true;
    last = Date.now();
    try {
      await refresh(section);
    } catch (err) {
      // keep what is on screen; the next alert (or a reload) tries again
      console.warn("live refresh of " + sectionId + " failed: " + err.message);
    } finally {
      running = false;
      if (pending) { pending = false; schedule(); }
    }
  }
  document.addEventListener("riskstream:alert", (event) => {
    if (visible() && wants(event.detail.alert)) schedule();
  });
  // a refresh for another reason than an alert (same limits)
  return () => { if (visible()) schedule(); };
}

// "10:01:17 UTC": the browser's time now, when a page loads its figures.
export function pageTime() {
  return new Date().toISOString().slice(11, 19) + " UTC";
}

// "updated 10:01:17 UTC": when a live page last loaded its figures.
export function updatedNote() {
  return "updated " + pageTime();
}
