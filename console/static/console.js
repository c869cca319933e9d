// esdb-orders console: live regions, the stored/upcast toggle and the revision slider.
// No framework, no build step: this file is served as it is.
"use strict";

function setStatus(text, down) {
  const el = document.getElementById("live-status");
  if (!el) return;
  el.textContent = text;
  el.className = down ? "down" : "";
}

function fragmentUrl(src) {
  const url = new URL(src, window.location.href);
  url.searchParams.set("fragment", "1");
  return url.toString();
}

function startLive(region) {
  const period = parseInt(region.dataset.refresh || "2000", 10);
  const src = region.dataset.live;
  let busy = false;
  async function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(fragmentUrl(src), { headers: { "X-Console-Fragment": "1" }, cache: "no-store" });
      const body = await response.text();
      if (response.ok) {
        region.innerHTML = body;
        region.dataset.updated = String(Date.now());
        setStatus("live · updated " + new Date().toLocaleTimeString(), false);
      } else {
        setStatus("live · " + response.status + ": " + body.slice(0, 160), true);
      }
    } catch (err) {
      setStatus("live · console unreachable", true);
    } finally {
      busy = false;
    }
  }
  window.setInterval(refresh, period);
}

function bindToggles(root) {
  root.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-show]");
    if (!button) return;
    const article = button.closest("article.event");
    const show = button.dataset.show;
    article.querySelectorAll("[data-view]").forEach((pre) => { pre.hidden = pre.dataset.view !== show; });
    article.querySelectorAll("button[data-show]").forEach((b) => { b.classList.toggle("on", b === button); });
  });
}

function bindSlider() {
  const slider = document.querySelector("input[data-revision-slider]");
  if (!slider) return;
  const output = document.getElementById("revision-value");
  slider.addEventListener("input", () => { if (output) output.textContent = slider.value; });
  slider.addEventListener("change", () => {
    const url = new URL(slider.dataset.revisionSlider, window.location.href);
    url.searchParams.set("revision", slider.value);
    window.location.assign(url.toString());
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live]").forEach(startLive);
  bindToggles(document);
  bindSlider();
});
