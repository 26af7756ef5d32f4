// dcgan-serve's own page: plain JavaScript in native ES modules, no dependencies, no build
// step, nothing loaded from elsewhere. This entry module wires the controls to the modules
// and starts the page; index.html preloads the modules it imports.
// The view's state lives in the URL hash, so every view is a permalink (history.js). An API
// key lives in sessionStorage and only ever travels in an X-API-Key header (keys.js, api.js):
// <img> tags cannot send one, so with a key set images are fetched with it and shown through
// object URLs (images.js). Shared mutable state is in state.js.

import { KEY_REQUIRED, MAX_COUNT } from "./config.js";
import { closeDetail, detailClosed, detailKeys, openDetail, updateDownloads } from "./detail.js";
import { $, copyText, say } from "./dom.js";
import { galleryKeys, goToPage } from "./gallery.js";
import { followHash, readHash, step } from "./history.js";
import {
  animationLinks, changeSpeed, interp, pause, play, showFrame, submitInterpolation, useSeed,
} from "./interpolation.js";
import { apiKey, askForKey, forgetKey, keyedDownload, submitKey } from "./keys.js";
import { loadModels, MODELS_POLL_MS, refreshModels, renderAll, selectModel } from "./models.js";
import { changePsi, PSI_SETTLE_MS, showPsi } from "./psi.js";
import { parseSeed, randomSeed, SEED_MAX } from "./seeds.js";
import { state } from "./state.js";

function bind() {
  $("picker").addEventListener("submit", (e) => e.preventDefault());
  $("model").addEventListener("change", step((e) => { state.model = e.target.value; state.version = null; state.page = 0n; state.seed = null; selectModel(); }));
  $("version").addEventListener("change", step((e) => { state.version = Number(e.target.value); renderAll(); }));
  $("psi-on").addEventListener("change", step(changePsi));
  $("psi").addEventListener("input", () => { $("psi-value").textContent = `ψ = ${$("psi").value}`; });
  // one render when the slider stops moving, not one per key press (15 presses were 377 requests)
  let psiTimer = 0;
  $("psi").addEventListener("change", () => { clearTimeout(psiTimer); psiTimer = setTimeout(step(changePsi), PSI_SETTLE_MS); });
  $("prev").addEventListener("click", step(() => goToPage(state.page - 1n)));
  $("next").addEventListener("click", step(() => goToPage(state.page + 1n)));
  $("random").addEventListener("click", step(() => openDetail(randomSeed())));
  $("gallery").addEventListener("keydown", galleryKeys);
  $("gallery").addEventListener("focusin", (e) => {  // the roving Tab stop follows the focus
    const tile = e.target.closest(".tile");
    if (!tile) return;
    for (const t of $("gallery").querySelectorAll(".tile")) t.tabIndex = t === tile ? 0 : -1;
  });
  $("skip").addEventListener("click", (e) => {  // the hash holds the view: focus, not a jump
    e.preventDefault();
    $("gallery").querySelector(".tile[tabindex='0']")?.focus();
  });
  $("goto-form").addEventListener("submit", step((e) => {
    e.preventDefault();
    const seed = parseSeed($("goto").value);
    if (seed === null) say(`A seed is a whole number from 0 to ${SEED_MAX}.`); else openDetail(seed);
  }));
  $("detail").addEventListener("close", detailClosed);
  $("detail").addEventListener("keydown", detailKeys);
  $("detail-close").addEventListener("click", closeDetail);
  // within the dialog a seed replaces the last: one Back (or Escape) closes it
  $("detail-prev").addEventListener("click", () => openDetail(state.seed - 1n));
  $("detail-next").addEventListener("click", () => openDetail(state.seed + 1n));
  $("use-a").addEventListener("click", step(() => useSeed("a")));
  $("use-b").addEventListener("click", step(() => useSeed("b")));
  $("dl-upscale").addEventListener("change", updateDownloads);
  $("dl-filter").addEventListener("change", updateDownloads);
  for (const id of ["dl-png", "dl-webp", "dl-gif", "dl-webp-anim"]) $(id).addEventListener("click", keyedDownload);
  $("copy-curl").addEventListener("click", () => copyText($("curl").value, $("curl")));
  $("interp-form").addEventListener("submit", step(submitInterpolation));
  $("frame-ms").addEventListener("change", step(changeSpeed));
  $("frame-slider").addEventListener("input", (e) => { pause(); showFrame(Number(e.target.value)); });
  $("play").addEventListener("click", () => (interp.timer ? pause() : play()));
  for (const id of ["end-a", "end-b"]) {
    $(id).addEventListener("click", step((event) => openDetail(BigInt(event.currentTarget.dataset.seed))));
  }
  $("anim-upscale").addEventListener("change", animationLinks);
  $("anim-filter").addEventListener("change", animationLinks);
  $("key-form").addEventListener("submit", submitKey);
  $("key-forget").addEventListener("click", forgetKey);
  $("steps").max = String(MAX_COUNT);
  window.addEventListener("hashchange", followHash);
}

function start() {
  bind();
  setInterval(refreshModels, MODELS_POLL_MS);
  readHash();
  showPsi();
  if (KEY_REQUIRED && !apiKey()) {
    askForKey("This server needs an API key: enter it under API key.", { focus: true });
    return;
  }
  loadModels();
}

start();
