// One seed: the dialog with its permalink, downloads and curl line; where focus goes on close.

import { MAX_PIXELS } from "./config.js";
import { $ } from "./dom.js";
import { renderGallery } from "./gallery.js";
import { permalink, writeHash } from "./history.js";
import { buckets, imageUrl, label, setImage } from "./images.js";
import { apiKey } from "./keys.js";
import { current, modelsLoaded } from "./models.js";
import { PER_PAGE, SEED_MAX } from "./seeds.js";
import { state } from "./state.js";

let openedWith = null;  // the seed the dialog opened with (its tile had the focus)
let opener = null;  // the control that opened it, when not a tile (an end of the walk)
let seedEntry = false;  // the open dialog has a history entry of its own (Back closes it)

export function openDetail(seed) {
  if (!modelsLoaded()) return;
  state.seed = seed;
  const page = seed / PER_PAGE;
  if (page !== state.page) { state.page = page; renderGallery(); }
  if (writeHash()) seedEntry = true;
  buckets.detail.renew();
  $("detail-seed").textContent = String(seed);
  const img = $("detail-img");
  img.alt = label(seed);
  setImage(img, imageUrl(seed, "png"), buckets.detail);
  const link = $("permalink");
  link.href = permalink();
  link.textContent = link.href;
  $("detail-prev").disabled = seed === 0n;
  $("detail-next").disabled = seed === SEED_MAX;
  updateDownloads();
  const dialog = $("detail");
  if (!dialog.open) {
    openedWith = seed;
    opener = document.activeElement?.classList.contains("end") ? document.activeElement : null;
    dialog.showModal();
  }
}

export function closeDetail() {
  const dialog = $("detail");
  if (dialog.open) dialog.close();
}

// the dialog's close event (Escape, the close button, Back, or the page closing it)
export function detailClosed() {
  buckets.detail.renew();
  // focus goes back to the tile of the seed last shown: the one that opened the dialog is
  // gone when the dialog's arrows crossed into another page (the browser would drop focus)
  const seeds = [state.seed, openedWith];  // after a Back the gallery may show the opener's page
  setTimeout(() => {
    if (opener && !opener.hidden) { opener.focus(); opener = null; return; }
    if ($("gallery").contains(document.activeElement)) return;
    const tile = (seed) => seed !== null && $("gallery").querySelector(`.tile[data-seed="${seed}"]`);
    (tile(seeds[0]) || tile(seeds[1]) || $("gallery").querySelector(".tile"))?.focus();
  }, 50);
  if (state.seed !== null && seedEntry) {  // closed by the person: the same as Back
    seedEntry = false;
    history.back();
    return;
  }
  seedEntry = false;
  state.seed = null;
  writeHash();
}

function downloadName(seed, format) {
  const psi = state.psi !== null ? `-psi${state.psi}` : "";
  const size = $("dl-upscale").value !== "1" ? `-x${$("dl-upscale").value}` : "";
  return `${state.model}-v${state.version}-seed${seed}${psi}${size}.${format}`;
}

// Sizes that would pass the output budget for `count` images, the others disabled; a choice
// over it moves to the largest one left.
export function sizesWithin(select, count) {
  const side = current()?.manifest?.image_size ?? 0;
  let largest = null;
  for (const option of select.options) {
    const factor = Number(option.value);
    option.disabled = count * (side * factor) ** 2 > MAX_PIXELS && factor > 1;
    if (!option.disabled) largest = option;
  }
  if (select.selectedOptions[0]?.disabled && largest) largest.selected = true;
  return select.value;
}

export function updateDownloads() {
  if (state.seed === null) return;
  const upscale = sizesWithin($("dl-upscale"), 1);
  const filter = $("dl-filter").value;
  const extra = upscale === "1" ? {} : { upscale, upscale_filter: filter };
  for (const [id, format] of [["dl-png", "png"], ["dl-webp", "webp"]]) {
    const link = $(id);
    link.href = imageUrl(state.seed, format, extra);
    link.download = downloadName(state.seed, format);
  }
  const url = location.origin + $("dl-png").getAttribute("href");
  const header = apiKey() ? ` -H "X-API-Key: $DCGAN_API_KEY"` : "";
  $("curl").value = `curl -s '${url}'${header} -o ${$("dl-png").download}`;
}

export function detailKeys(event) {
  if (event.target.matches("input, select")) return;
  if (event.key === "ArrowLeft" && state.seed > 0n) openDetail(state.seed - 1n);
  if (event.key === "ArrowRight" && state.seed < SEED_MAX) openDetail(state.seed + 1n);
}
