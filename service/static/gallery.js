// The gallery: one page of seeds as tiles, paged, walked with the arrow keys.

import { openDetail } from "./detail.js";
import { $, el } from "./dom.js";
import { step, writeHash } from "./history.js";
import { buckets, imageUrl, label, setImage } from "./images.js";
import { modelsLoaded } from "./models.js";
import { LAST_PAGE, PER_PAGE, SEED_MAX } from "./seeds.js";
import { state } from "./state.js";

export function renderGallery() {
  buckets.gallery.renew();
  const first = state.page * PER_PAGE;
  const tiles = [];
  for (let seed = first; seed < first + PER_PAGE && seed <= SEED_MAX; seed++) {
    const img = el("img", { alt: label(seed), width: 96, height: 96 });
    const button = el("button", { type: "button", className: "tile" }, img,
      el("span", { textContent: String(seed) }));
    button.dataset.seed = String(seed);
    button.tabIndex = tiles.length === 0 ? 0 : -1;  // one Tab stop for the grid; arrows move in it
    button.addEventListener("click", step(() => openDetail(seed)));
    tiles.push(el("li", {}, button));
    setImage(img, imageUrl(seed, "png"), buckets.gallery);
  }
  $("gallery").replaceChildren(...tiles);
  const last = first + BigInt(tiles.length) - 1n;
  $("page-label").textContent = `Page ${state.page + 1n}: seeds ${first}–${last}`;
  $("prev").disabled = state.page === 0n;
  $("next").disabled = state.page >= LAST_PAGE;
}

export function goToPage(page) {
  if (page < 0n || page > LAST_PAGE || !modelsLoaded()) return;
  state.page = page;
  writeHash();
  renderGallery();
}

export function galleryKeys(event) {
  const tile = event.target.closest(".tile");
  if (!tile) return;
  const tiles = [...$("gallery").querySelectorAll(".tile")];
  const i = tiles.indexOf(tile);
  const columns = Math.max(1, tiles.filter((t) => t.offsetTop === tiles[0].offsetTop).length);
  const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns }[event.key];
  if (step !== undefined && tiles[i + step]) {
    event.preventDefault();
    tiles[i + step].focus();
  } else if (event.key === "PageDown" || event.key === "PageUp") {
    event.preventDefault();
    goToPage(state.page + (event.key === "PageDown" ? 1n : -1n));
    $("gallery").querySelector(".tile")?.focus();
  }
}
