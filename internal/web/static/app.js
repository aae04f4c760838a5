// stategen serve: keeps the page's live part (#live) current. The page
// names its event stream in main[data-events]; on each change it refetches
// itself with ?fragment=live and swaps the part in. Without JavaScript, or
// without EventSource, the page is simply static.
"use strict";
(function () {
  const main = document.querySelector("main[data-events]");
  const live = document.getElementById("live");
  const status = document.getElementById("live-status");
  if (!main || !live || !window.EventSource) return;

  const say = (text) => { if (status) status.textContent = text; };
  let busy = false, again = false;

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const url = new URL(window.location.href);
      url.searchParams.set("fragment", "live");
      const resp = await fetch(url, { headers: { Accept: "text/html" }, cache: "no-store" });
      if (resp.ok) {
        // Keep the focused element's place: restore focus to the same
        // link or control after the swap when it is still there.
        const focused = document.activeElement && live.contains(document.activeElement) ? document.activeElement.outerHTML : null;
        // Disclosures the reader opened (the raw JSON) stay open.
        const open = [...live.querySelectorAll("details")].map((d) => d.open);
        live.innerHTML = await resp.text();
        live.querySelectorAll("details").forEach((d, i) => { if (open[i]) d.open = true; });
        live.classList.remove("updated");
        void live.offsetWidth; // restart the highlight
        live.classList.add("updated");
        if (focused) {
          for (const el of live.querySelectorAll("a, button, input, select, summary")) {
            if (el.outerHTML === focused) { el.focus(); break; }
          }
        }
        say("Updated " + new Date().toLocaleTimeString());
      } else if (resp.status === 404) {
        say("This run no longer exists");
      }
    } catch (e) {
      say("Update failed; retrying on the next change");
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }

  const es = new EventSource(main.dataset.events);
  es.addEventListener("open", () => say("Live"));
  es.addEventListener("change", refresh);
  // After a gap the feed cannot say what changed: read everything again.
  es.addEventListener("gap", refresh);
  es.addEventListener("error", () => say("Reconnecting…"));
})();
