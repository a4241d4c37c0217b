// pinwarden console: small progressive enhancements; every page works without them.
"use strict";

// Ask before destructive forms (data-confirm).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// The events page's live feed: fetch rows newer than the newest shown, every 2 s.
function startFeed(table) {
  const body = table.tBodies[0];
  const status = document.getElementById("feed-status");
  let after = table.dataset.after || "0";
  let busy = false;
  async function poll() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const url = `${table.dataset.feed}?${table.dataset.query}&after=${encodeURIComponent(after)}`;
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (response.redirected || !response.ok) {
        if (status) status.textContent = "Live feed paused: sign in again to resume.";
        return;
      }
      after = response.headers.get("X-Last-Seq") || after;
      const html = (await response.text()).trim();
      if (html) {
        const empty = body.querySelector("tr.empty");
        if (empty) empty.remove();
        const template = document.createElement("template");
        template.innerHTML = html;
        const rows = Array.from(template.content.querySelectorAll("tr"));
        rows.forEach((row) => row.classList.add("fresh"));
        body.prepend(...rows);
        while (body.rows.length > 300) body.deleteRow(body.rows.length - 1);
        if (status) status.textContent = `Live: ${rows.length} new event(s) at ${new Date().toLocaleTimeString()}.`;
      }
    } catch (err) {
      if (status) status.textContent = "Live feed: the server did not answer; retrying.";
    } finally {
      busy = false;
    }
  }
  window.setInterval(poll, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  // A notice from the last action is shown once: a reload must not repeat it.
  const url = new URL(window.location.href);
  if (url.searchParams.has("notice")) {
    url.searchParams.delete("notice");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  const feed = document.getElementById("feed");
  if (feed) startFeed(feed);
});
