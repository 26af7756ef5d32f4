// dcgan-serve's own page: plain JavaScript, no dependencies, nothing loaded from elsewhere.
// The view's state lives in the URL hash, so every view is a permalink. An API key lives in
// sessionStorage and only ever travels in an X-API-Key header: <img> tags cannot send one, so
// with a key set images are fetched with it and shown through object URLs.
"use strict";

const PER_PAGE = 24n;
const SEED_MAX = (1n << 64n) - 1n;
const LAST_PAGE = SEED_MAX / PER_PAGE;
const KEY_STORE = "dcgan-serve.api-key";
const KEY_REQUIRED = document.documentElement.dataset.keyRequired === "true";
const MAX_COUNT = Number(document.documentElement.dataset.maxCount) || 64;
// DCGAN_MAX_OUTPUT_PIXELS: a download size over it would save a 422's JSON as the picture
const MAX_PIXELS = Number(document.documentElement.dataset.maxPixels) || 16_777_216;
const FRAME_MS = [50, 100, 200, 400];  // the speeds offered; 100 ms is the API's default
const FILE_ALT = {
  "samples.png": "seeds 0 to 63",
  "training.gif": "the first seeds after every training epoch",
  "losses.png": "discriminator and generator losses during training",
};
const $ = (id) => document.getElementById(id);

const state = {
  model: "", version: null, page: 0n, seed: null, psi: null,
  a: 1n, b: 2n, steps: 16, method: "slerp", ms: 100,
};
let models = {};  // GET /models: name -> {default_version, versions}

// ---- small helpers -----------------------------------------------------------------------

function parseSeed(text) {
  const t = String(text ?? "").trim();
  if (!/^(0|[1-9][0-9]{0,19})$/.test(t)) return null;
  const n = BigInt(t);
  return n <= SEED_MAX ? n : null;
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// A message shows where the person is looking (in the dialog while it is open: the page's
// line sits behind its backdrop) and, unless it needs an action, clears after a while.
const SAY_MS = 6000;
let sayTimer = 0;
function say(text, { lasting = false } = {}) {
  const here = $("detail").open ? $("detail-status") : $("status");
  for (const line of [$("status"), $("detail-status")]) line.textContent = line === here ? text : "";
  clearTimeout(sayTimer);
  if (text && !lasting) sayTimer = setTimeout(() => { if (here.textContent === text) here.textContent = ""; }, SAY_MS);
}

function apiKey() { return sessionStorage.getItem(KEY_STORE) || ""; }

async function api(path) {
  const key = apiKey();
  const response = await fetch(path, { headers: key ? { "X-API-Key": key } : {} });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message; } catch { /* not our JSON */ }
    throw Object.assign(new Error(message), { status: response.status });
  }
  return response;
}

// A fetch that cannot reach the server (it restarts, the network dropped) is not an error to
// show and forget: the page says so, asks /healthz every few seconds, and when the server
// answers again reloads the models and redraws, so broken tiles come back by themselves.
const RETRY_MS = 2000;
let waiting = 0;  // the timer of the next /healthz look, while the server is away
function serverAway() {
  if (waiting) return;
  say("The server is not answering: the page will retry by itself.", { lasting: true });
  const look = async () => {
    try {
      if ((await fetch("/healthz", { cache: "no-store" })).ok) {
        waiting = 0;
        say("");
        await loadModels();
        return;
      }
    } catch { /* still away */ }
    waiting = setTimeout(look, RETRY_MS);
  };
  waiting = setTimeout(look, RETRY_MS);
}

// an <img> that failed: the server away, or an answer that is not a picture (said once)
async function imageFailed() {
  try {
    if ((await fetch("/healthz", { cache: "no-store" })).ok) return;
  } catch { /* fall through */ }
  serverAway();
}

// The key panel opened, with a message that stays until a key is given.
function askForKey(message, { focus = false } = {}) {
  $("key-panel").open = true;
  if (focus) $("key").focus();
  say(message, { lasting: true });
}

function report(error) {
  if (error instanceof TypeError) { serverAway(); return; }  // fetch's "Failed to fetch"
  if (error.status === 401) {
    askForKey("This server needs an API key (or the one given is wrong): enter it under API key.");
  } else {
    say(`Error: ${error.message}`, { lasting: true });
  }
}

// Object URLs are owned by a bucket and revoked when what shows them is replaced.
class Bucket {
  constructor() { this.urls = []; this.generation = 0; }
  renew() { this.urls.forEach(URL.revokeObjectURL); this.urls = []; return ++this.generation; }
}
const buckets = { gallery: new Bucket(), detail: new Bucket(), card: new Bucket() };

async function setImage(img, url, bucket) {
  if (!apiKey()) { img.onerror = imageFailed; img.src = url; return; }
  const generation = bucket.generation;
  try {
    const blob = await (await api(url)).blob();
    if (generation !== bucket.generation) return;  // replaced meanwhile
    const objectUrl = URL.createObjectURL(blob);
    bucket.urls.push(objectUrl);
    img.src = objectUrl;
  } catch (error) {
    if (generation === bucket.generation) report(error);
  }
}

async function downloadWithKey(url, filename) {
  try {
    const blob = await (await api(url)).blob();
    const objectUrl = URL.createObjectURL(blob);
    el("a", { href: objectUrl, download: filename }).click();
    setTimeout(() => URL.revokeObjectURL(objectUrl), 60_000);
  } catch (error) { report(error); }
}

// Links download by themselves; with a key they cannot send it, so the click fetches.
function keyedDownload(event) {
  const link = event.currentTarget;
  if (!apiKey() || !link.href) return;
  event.preventDefault();
  downloadWithKey(link.getAttribute("href"), link.download);
}

async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    say("Copied to the clipboard.");
  } catch {  // no clipboard (plain http on another host) or no permission
    input.focus();
    input.select();
    say("Selected: press Ctrl+C (⌘C) to copy.");
  }
}

// ---- state <-> URL hash ------------------------------------------------------------------

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const seed = (k) => parseSeed(p.get(k));
  state.model = p.get("model") || state.model;
  const version = Number(p.get("version"));
  state.version = Number.isInteger(version) && version >= 1 ? version : null;
  const page = parseSeed(p.get("page"));
  state.page = page !== null && page <= LAST_PAGE ? page : 0n;
  state.seed = seed("seed");
  const psi = Number(p.get("psi"));
  state.psi = p.has("psi") && psi >= 0 && psi <= 1 ? p.get("psi") : null;
  state.a = seed("a") ?? state.a;
  state.b = seed("b") ?? state.b;
  const steps = Number(p.get("steps"));
  state.steps = Number.isInteger(steps) && steps >= 2 && steps <= MAX_COUNT ? steps : state.steps;
  state.method = p.get("method") === "lerp" ? "lerp" : "slerp";
  const ms = Number(p.get("ms"));
  state.ms = FRAME_MS.includes(ms) ? ms : 100;
}

function hashOf(overrides = {}) {
  const s = { ...state, ...overrides };
  const p = new URLSearchParams({ model: s.model });
  if (s.version !== null) p.set("version", s.version);
  p.set("page", s.page);
  if (s.seed !== null) p.set("seed", s.seed);
  if (s.psi !== null) p.set("psi", s.psi);
  p.set("a", s.a);
  p.set("b", s.b);
  p.set("steps", s.steps);
  p.set("method", s.method);
  if (s.ms !== 100) p.set("ms", s.ms);
  return "#" + p;
}

// A person's step (a page, a seed, a model, a setting) adds a history entry, so Back undoes
// it (and closes the dialog on a phone); what the page writes on its own replaces the entry.
let stepping = false;
const step = (action) => (...args) => {
  stepping = true;
  try { return action(...args); } finally { stepping = false; }
};

let openedWith = null;  // the seed the dialog opened with (its tile had the focus)
let opener = null;  // the control that opened it, when not a tile (an end of the walk)
let seedEntry = false;  // the open dialog has a history entry of its own (Back closes it)

function writeHash() {
  const hash = hashOf();
  const push = stepping && hash !== location.hash;
  if (push) history.pushState(null, "", hash); else history.replaceState(null, "", hash);
  stepping = false;  // one entry per step, however many writes it makes
  // the tab (and a bookmark) says what it shows
  const view = state.seed !== null ? `seed ${state.seed} · ` : "";
  document.title = state.model ? `${view}${state.model} v${state.version} · dcgan-serve` : "dcgan-serve";
  return push;
}

// a seed from the whole 64-bit range, as a random request draws one
function randomSeed() {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(high) << 32n) | BigInt(low);
}

function permalink(overrides) {
  return location.origin + location.pathname + hashOf(overrides);
}

// ---- models and versions -----------------------------------------------------------------

// Nothing that names a model may run before the models are listed (with a key required and
// none given, they never are): it would ask for /models//images/24.png?version=null.
function modelsLoaded() {
  if (state.model && models[state.model] && state.version !== null) return true;
  if (KEY_REQUIRED && !apiKey()) {
    askForKey("This server needs an API key: enter it under API key first.");
  } else {
    say("The models are not loaded yet.");
  }
  return false;
}

const readyVersions = (name) => (models[name]?.versions ?? []).filter((v) => v.status === "ready");
const current = () => (models[state.model]?.versions ?? []).find((v) => v.version === state.version);

async function loadModels() {
  say("Loading models…", { lasting: true });
  try {
    models = (await (await api("/models")).json()).models;
  } catch (error) { models = {}; report(error); return; }
  listModels();
  if (!Object.keys(models).some((n) => readyVersions(n).length)) {
    say("No model is ready on this server.", { lasting: true });
    return;
  }
  say("");
  selectModel();
}

function listModels() {
  const select = $("model");
  select.replaceChildren();
  const unavailable = $("unavailable");
  unavailable.replaceChildren();
  for (const name of Object.keys(models)) {
    const usable = readyVersions(name).length > 0;
    select.append(el("option", { value: name, disabled: !usable,
      textContent: usable ? name : `${name} (unavailable)` }));
    for (const v of models[name].versions) {
      if (v.status !== "ready") {
        unavailable.append(el("li", { textContent: `${name} v${v.version} unavailable: ${v.reason}` }));
      }
    }
  }
  if (state.model) select.value = state.model;
}

// A model exported (or a version added) while the page is open appears in the pickers by
// itself: /models is asked again every MODELS_POLL_MS while the tab is visible. What is on
// screen stays, unless the version shown is gone.
const MODELS_POLL_MS = 10_000;
const signature = (m) => JSON.stringify(Object.entries(m).map(([n, x]) =>
  [n, x.default_version, x.versions.map((v) => [v.version, v.status])]));

async function refreshModels() {
  if (document.visibilityState !== "visible" || !current() || waiting) return;
  let fresh;
  try { fresh = (await (await api("/models")).json()).models; } catch { return; }
  if (signature(fresh) === signature(models)) return;
  models = fresh;
  listModels();
  if (current()?.status === "ready") {
    versionOptions();
    say("The models on the server changed: the pickers show what is there now.");
  } else {
    selectModel();
  }
}

function versionOptions() {
  const versions = models[state.model].versions;
  $("version").replaceChildren(...versions.map((v) => el("option", {
    value: v.version,
    disabled: v.status !== "ready",
    title: v.reason ?? "",
    // the reason goes in the tooltip and the list of unavailable versions: in the option it
    // made the select ~590 px wide, the header three rows and a phone page wider than its screen
    textContent: v.status === "ready" ? `v${v.version}` : `v${v.version} (unavailable)`,
  })));
  $("version").value = state.version;
}

function selectModel() {
  const names = Object.keys(models).filter((n) => readyVersions(n).length);
  const notes = [];  // a permalink's model or version that is not here: said, not swallowed
  if (!names.includes(state.model)) {
    if (state.model) notes.push(`Model ${state.model} is not available here: showing ${names[0]}.`);
    state.model = names[0];
    state.version = null;
  }
  $("model").value = state.model;
  const ready = readyVersions(state.model);
  if (!ready.some((v) => v.version === state.version)) {
    const asked = state.version;
    state.version = models[state.model].default_version ?? ready[ready.length - 1].version;
    if (asked !== null) notes.push(`${state.model} v${asked} is not available: showing v${state.version}.`);
  }
  if (notes.length) say(notes.join(" "));
  versionOptions();
  renderAll();
}

function renderAll() {
  checkPsi();
  writeHash();
  renderGallery();
  renderCard();
  renderInterpolation();
  if (state.seed !== null) openDetail(state.seed); else closeDetail();
}

// ---- gallery -----------------------------------------------------------------------------

function imageUrl(seed, format, extra = {}) {
  const q = new URLSearchParams({ version: state.version, ...extra });
  if (state.psi !== null) q.set("truncation", state.psi);
  return `/models/${encodeURIComponent(state.model)}/images/${seed}.${format}?${q}`;
}

const label = (seed) => `${state.model} v${state.version}, seed ${seed}` +
  (state.psi !== null ? `, ψ ${state.psi}` : "");

function renderGallery() {
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

function goToPage(page) {
  if (page < 0n || page > LAST_PAGE || !modelsLoaded()) return;
  state.page = page;
  writeHash();
  renderGallery();
}

function galleryKeys(event) {
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

// ---- one seed: dialog with permalink, downloads, curl -------------------------------------

function openDetail(seed) {
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

function closeDetail() {
  const dialog = $("detail");
  if (dialog.open) dialog.close();
}

function downloadName(seed, format) {
  const psi = state.psi !== null ? `-psi${state.psi}` : "";
  const size = $("dl-upscale").value !== "1" ? `-x${$("dl-upscale").value}` : "";
  return `${state.model}-v${state.version}-seed${seed}${psi}${size}.${format}`;
}

// Sizes that would pass the output budget for `count` images, the others disabled; a choice
// over it moves to the largest one left.
function sizesWithin(select, count) {
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

function updateDownloads() {
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

function detailKeys(event) {
  if (event.target.matches("input, select")) return;
  if (event.key === "ArrowLeft" && state.seed > 0n) openDetail(state.seed - 1n);
  if (event.key === "ArrowRight" && state.seed < SEED_MAX) openDetail(state.seed + 1n);
}

// ---- interpolation -----------------------------------------------------------------------

const interp = { frames: [], index: 0, timer: null, generation: 0, forward: true };

function interpolationQuery() {
  const q = new URLSearchParams({
    model: state.model, version: state.version, seed_a: state.a, seed_b: state.b,
    steps: state.steps, method: state.method,
  });
  if (state.psi !== null) q.set("truncation", state.psi);
  if (state.ms !== 100) q.set("frame_ms", state.ms);  // the download plays as the page does
  return q;
}

function animationLinks() {
  const q = interpolationQuery();
  const upscale = sizesWithin($("anim-upscale"), state.steps);
  if (upscale !== "1") {
    q.set("upscale", upscale);
    q.set("upscale_filter", $("anim-filter").value);
  }
  const name = `${state.model}-v${state.version}-${state.a}-to-${state.b}-${state.method}` +
    `${state.steps}${state.psi !== null ? `-psi${state.psi}` : ""}` +
    `${upscale !== "1" ? `-x${upscale}` : ""}`;
  for (const [id, format] of [["dl-gif", "gif"], ["dl-webp-anim", "webp"]]) {
    Object.assign($(id), { href: `/interpolate?${q}&format=${format}`, download: `${name}.${format}` });
  }
}

// a new speed plays at once, and the downloads follow it: nothing to render again
function changeSpeed() {
  state.ms = Number($("frame-ms").value);
  writeHash();
  animationLinks();
  if (interp.timer) { pause(); play(); }
}

async function renderInterpolation() {
  $("seed-a").value = String(state.a);
  $("seed-b").value = String(state.b);
  $("steps").value = String(state.steps);
  $("method").value = state.method;
  $("frame-ms").value = String(state.ms);
  pause();
  const q = interpolationQuery();
  animationLinks();
  const generation = ++interp.generation;
  showEnds(false);
  $("frame-label").textContent = "Rendering…";
  try {
    const body = await (await api(`/interpolate?${q}&format=json`)).json();
    if (generation !== interp.generation) return;
    interp.frames = body.frames.map((f) => `data:image/png;base64,${f}`);
  } catch (error) {
    if (generation === interp.generation) {
      // nothing of another model's or seed's walk stays on screen, playable
      interp.frames = [];
      $("frame").hidden = true;
      $("frame-slider").disabled = true;
      $("play").disabled = true;
      $("frame-label").textContent = "";
      report(error);
    }
    return;
  }
  const slider = $("frame-slider");
  slider.max = String(interp.frames.length - 1);
  slider.disabled = false;
  $("play").disabled = false;
  showFrame(0);
  showEnds(true);
}

// The walk's two ends beside the slider, from its own first and last frames (so they show ψ
// as the walk does, at no extra request); a click opens that seed.
function showEnds(shown) {
  for (const [id, which, i] of [["end-a", "a", 0], ["end-b", "b", interp.frames.length - 1]]) {
    const button = $(id);
    button.hidden = !shown;
    if (!shown) continue;
    Object.assign(button.firstElementChild, { src: interp.frames[i], alt: `seed ${which.toUpperCase()}, ${state[which]}` });
    button.dataset.seed = String(state[which]);
    button.title = `Seed ${which.toUpperCase()}: ${state[which]}`;
    button.setAttribute("aria-label", `Open seed ${which.toUpperCase()}, ${state[which]}`);
  }
}

function showFrame(i) {
  const n = interp.frames.length;
  interp.index = i;
  const img = $("frame");
  img.src = interp.frames[i];
  img.alt = `frame ${i + 1} of ${n}, ${state.method} from seed ${state.a} to seed ${state.b}`;
  img.hidden = false;
  const slider = $("frame-slider");
  slider.value = String(i);
  slider.setAttribute("aria-valuetext", `frame ${i + 1} of ${n}`);
  $("frame-label").textContent = `Frame ${i + 1} of ${n}: seed ${state.a} → seed ${state.b} (${state.method})`;
}

function play() {
  if (!interp.frames.length) return;
  // forth and back, as the downloaded GIF and WebP play (0 1 2 3 2 1 0 1 ...): no jump
  interp.timer = setInterval(() => {
    const last = interp.frames.length - 1;
    if (interp.index >= last) interp.forward = false;
    if (interp.index <= 0) interp.forward = true;
    showFrame(Math.max(0, Math.min(last, interp.index + (interp.forward ? 1 : -1))));
  }, state.ms);
  $("play").textContent = "Pause";
  $("play").setAttribute("aria-pressed", "true");
}

function pause() {
  clearInterval(interp.timer);
  interp.timer = null;
  $("play").textContent = "Play";
  $("play").setAttribute("aria-pressed", "false");
}

function submitInterpolation(event) {
  event.preventDefault();
  if (!modelsLoaded()) return;
  const a = parseSeed($("seed-a").value);
  const b = parseSeed($("seed-b").value);
  const steps = Number($("steps").value);
  if (a === null || b === null) { say(`Seeds are whole numbers from 0 to ${SEED_MAX}.`); return; }
  if (!Number.isInteger(steps) || steps < 2 || steps > MAX_COUNT) {
    say(`Frames must be a whole number from 2 to ${MAX_COUNT}.`);
    return;
  }
  Object.assign(state, { a, b, steps, method: $("method").value, ms: Number($("frame-ms").value) });
  say("");
  writeHash();
  renderInterpolation();
}

function useSeed(which) {
  state[which] = state.seed;
  state.seed = null;  // the step is the new end, not a Back: the close adds no entry
  closeDetail();
  writeHash();
  renderInterpolation();
  $(which === "a" ? "seed-a" : "seed-b").focus();
}

// ---- model card --------------------------------------------------------------------------

const METRIC_NAMES = { fd: "FD", kid: "KID", precision: "precision", recall: "recall", density: "density", coverage: "coverage" };
const METRIC_MEANING = {
  fd: "Fréchet distance between the real and generated feature distributions",
  kid: "kernel distance (squared MMD, unbiased: near 0 means indistinguishable)",
  precision: "share of generated images that land among real ones: fidelity",
  recall: "share of real images the generator lands near: diversity",
  density: "how crowded real neighbourhoods are with generated images (fidelity, ~1 for real)",
  coverage: "share of real images with a generated one close by (diversity)",
};
const pct = (x) => `${Math.round(x * 100)}%`;

// KID is an unbiased estimate: for two samples of one distribution it can fall below 0. It
// is no distance below 0, so it shows as 0 ("at most" the noise), not as a negative number.
function shownFloor(metric, floor) {
  return metric === "kid" && floor < 0 ? "0 (indistinguishable)" : floor;
}

function fmt(value, digits = 4) {
  if (typeof value !== "number") return String(value ?? "");
  if (Number.isInteger(value)) return value.toLocaleString("en");
  return Math.abs(value) >= 0.01 || value === 0 ? String(+value.toPrecision(digits)) : value.toExponential(2);
}

function duration(seconds) {
  if (seconds < 90) return `${fmt(seconds, 3)} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 90 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function table(head, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", textContent: h })))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", { textContent: fmt(c) }))))));
}

function renderCard() {
  const v = current();
  const m = v.manifest;
  const t = m.training;
  const code = (text) => el("code", { textContent: text });
  const facts = [
    ["Command", code(t.command)],
    ["Data set", t.dataset],
    ["Images", fmt(t.dataset_size)],
    ["Epochs", fmt(t.epochs)],
    ["Steps", `${fmt(t.steps)} at batch ${fmt(t.batch_size)}`],
    ["Wall time", duration(t.wall_time_s)],
    ["Device", t.device],
    ["Machine", t.machine],
    ["Provider", v.provider],
    ["Network", `${m.preset}, ${m.image_size}×${m.image_size}×${m.channels}, z of ${m.nz}, ${m.dtype} weights`],
    ["ONNX parity", `max |Δ| ${fmt(m.parity.max_abs_diff)} (tolerance ${fmt(m.parity.tolerance)})`],
  ];
  const losses = Object.entries(t.final_losses ?? {}).map(([k, x]) => `${k} ${fmt(x)}`).join(", ");
  if (losses) facts.push(["Final losses", losses]);
  if (t.dataset_build?.command) facts.push(["Data set built by", code(t.dataset_build.command)]);
  facts.push(["Exported", m.created_at]);
  $("training").replaceChildren(...facts.flatMap(([k, x]) => [el("dt", { textContent: k }), el("dd", {}, x)]));

  const q = m.quality;
  const quality = $("quality");
  if (!q?.metrics) {
    quality.replaceChildren(el("p", { textContent: "No quality numbers recorded for this version." }));
  } else {
    const rows = Object.entries(q.metrics).map(([k, x]) =>
      [METRIC_NAMES[k] ?? k, x.value, shownFloor(k, x.floor), x.better, METRIC_MEANING[k] ?? ""]);
    const inception = q.inception;
    if (inception) {
      rows.push(["FID (Inception)", inception.fid, inception.fid_floor, "lower", METRIC_MEANING.fd]);
      rows.push(["KID (Inception)", inception.kid, shownFloor("kid", inception.kid_floor), "lower", METRIC_MEANING.kid]);
    }
    const parts = [
      el("p", { textContent: `${fmt(q.samples)} generated images against real ones from ${q.data}` +
        (q.features ? `, embedded by ${q.features}.` : ".") +
        " The floor is the same measurement between two halves of the real images: as good as it gets." }),
      table(["metric", "value", "real-vs-real floor", "better", "what it says"], rows),
    ];
    const labels = Object.entries(q.labels ?? {});
    if (labels.length) {  // the attribute table: how often each look appears, generated vs real
      parts.push(el("h4", { textContent: "Attributes (by the feature network's classifier)" }),
        table(["attribute", "difference (TV)", "floor", "most common: real vs generated"],
          labels.map(([head, x]) => [head, x.tv, x.floor, Object.entries(x.shares)
            .sort((a, b) => b[1][0] - a[1][0]).slice(0, 3)
            .map(([label, [real, fake]]) => `${label} ${pct(real)} vs ${pct(fake)}`).join(", ")])));
    }
    if (q.truncation?.length) {
      const keys = ["fd", "precision", "recall", "density", "coverage"].filter((k) => k in q.truncation[0]);
      parts.push(el("h4", { textContent: "By truncation ψ" }),
        table(["ψ", ...keys], q.truncation.map((r) => [r.psi, ...keys.map((k) => r[k])])));
    }
    if (q.command) parts.push(el("p", {}, code(q.command)));
    quality.replaceChildren(...parts);
  }

  buckets.card.renew();
  cardObserver.disconnect();
  const figures = (v.files ?? []).map((file) => {
    const img = el("img", { alt: `${file}: ${FILE_ALT[file] ?? file} (${state.model} v${state.version})` });
    const q = new URLSearchParams({ version: state.version });
    img.dataset.url = `/models/${encodeURIComponent(state.model)}/files/${file}?${q}`;
    cardObserver.observe(img);
    return el("figure", {}, img, el("figcaption", { textContent: `${file}: ${FILE_ALT[file] ?? ""}` }));
  });
  $("pictures").replaceChildren(...figures);
}

// The card's pictures (training.gif alone is ~2 MB) sit below the fold: fetched when they
// come near the screen, not with every page load.
const cardObserver = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    cardObserver.unobserve(entry.target);
    setImage(entry.target, entry.target.dataset.url, buckets.card);
  }
}, { rootMargin: "200px" });

// ---- truncation and key ------------------------------------------------------------------

function showPsi() {
  const on = state.psi !== null;
  $("psi-on").checked = on;
  $("psi").disabled = !on;
  if (on) $("psi").value = state.psi;
  $("psi-value").textContent = on ? `ψ = ${state.psi}` : "off";
}

// a version exported before truncation centers existed answers ψ with a 422: offer none
function checkPsi() {
  const v = current();
  const available = Boolean(v?.manifest?.truncation);
  $("psi-on").disabled = !available;
  $("psi-on").title = available ? "" : "this version has no truncation center";
  if (!available && state.psi !== null) {
    state.psi = null;
    showPsi();
    say(`${state.model} v${state.version} has no truncation center: ψ is off.`);
  }
}

const PSI_SETTLE_MS = 350;

function changePsi() {
  state.psi = $("psi-on").checked ? $("psi").value : null;
  showPsi();
  if (state.model) renderAll();
}

async function submitKey(event) {
  event.preventDefault();
  const key = $("key").value.trim();
  if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);
  await loadModels();
  if (Object.keys(models).length) {  // the key worked: out of the way
    $("key").value = "";
    $("key-panel").open = false;
  } else {  // a wrong key stays in the field, selected, to be corrected
    $("key-panel").open = true;
    $("key").focus();
    $("key").select();
  }
}

function forgetKey() {
  sessionStorage.removeItem(KEY_STORE);
  $("key").value = "";
  if (KEY_REQUIRED) {  // nothing more can load: say so, instead of broken images
    models = {};
    state.model = "";
    for (const bucket of Object.values(buckets)) bucket.renew();
    cardObserver.disconnect();
    $("gallery").replaceChildren();
    $("pictures").replaceChildren();
    $("model").replaceChildren();
    $("version").replaceChildren();
    askForKey("Key forgotten: enter a key under API key to see the models again.", { focus: true });
    return;
  }
  say("Key forgotten.");
}

// ---- wiring ------------------------------------------------------------------------------

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
  $("detail").addEventListener("close", () => {
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
  });
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

// Back, Forward or an edited URL: when only the open seed differs, open or close the
// dialog (the gallery and the focus stay); otherwise show the whole new view.
function followHash() {
  const view = (s) => JSON.stringify({ ...s, seed: null }, (_, v) => (typeof v === "bigint" ? `${v}` : v));
  const before = view(state);
  readHash();
  showPsi();
  if (!models[state.model]) return;
  if (view(state) !== before) { selectModel(); return; }
  if (state.seed !== null) openDetail(state.seed); else closeDetail();
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
