// nightshift web app: seeking from transcript/summary times, following playback, opening a
// meeting at ?t=, and live progress on the meetings list. No framework, no build step.
"use strict";

(function () {
  const player = document.getElementById("player");
  const lines = Array.from(document.querySelectorAll("#transcript li[data-start]"));

  function seek(t) {
    if (!player) return;
    player.currentTime = t;
    highlight(t);
    const p = player.play();
    if (p && p.catch) p.catch(function () {}); // autoplay may be refused; the time is set
  }

  let current = null;
  function highlight(t) {
    // The last line that started at or before t.
    let found = null;
    for (const li of lines) {
      if (parseFloat(li.dataset.start) <= t + 0.05) found = li; else break;
    }
    if (found === current) return;
    if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
    current = found;
    if (current) {
      current.classList.add("current");
      current.setAttribute("aria-current", "true");
      const r = current.getBoundingClientRect();
      if (r.top < 120 || r.bottom > window.innerHeight) current.scrollIntoView({ block: "center" });
    }
  }

  document.addEventListener("click", function (e) {
    const b = e.target.closest("[data-t]");
    if (b) { e.preventDefault(); seek(parseFloat(b.dataset.t)); return; }
    const li = e.target.closest("#transcript li[data-start]");
    if (li && !window.getSelection().toString()) seek(parseFloat(li.dataset.start));
  });

  if (player) {
    player.addEventListener("timeupdate", function () { highlight(player.currentTime); });
    player.addEventListener("seeked", function () { highlight(player.currentTime); });
    const at = parseFloat(player.dataset.startAt);
    if (!isNaN(at)) {
      player.currentTime = at;
      highlight(at);
    }
  }

  // Meetings list: refresh state and progress while work runs.
  const table = document.getElementById("meetings");
  if (table) {
    async function refresh() {
      try {
        const r = await fetch("/api/meetings", { credentials: "same-origin" });
        if (!r.ok) return;
        for (const m of await r.json()) {
          const row = table.querySelector('tr[data-meeting="' + CSS.escape(m.meeting_id) + '"]');
          if (!row) continue;
          row.querySelector(".state").textContent = m.state;
          const bar = row.querySelector("progress");
          bar.max = m.total; bar.value = m.done;
          row.querySelector(".count").textContent = m.done + "/" + m.total;
        }
      } catch (_) { /* the daemon may be restarting */ }
    }
    setInterval(refresh, 2000);
  }
})();
