// The walk between two seeds: its frames (fetched as JSON), the slider, Play, the two ends
// and the animated downloads.

import { api, report } from "./api.js";
import { MAX_COUNT } from "./config.js";
import { closeDetail, sizesWithin } from "./detail.js";
import { $, say } from "./dom.js";
import { writeHash } from "./history.js";
import { modelsLoaded } from "./models.js";
import { parseSeed, SEED_MAX } from "./seeds.js";
import { state } from "./state.js";

export const interp = { frames: [], index: 0, timer: null, generation: 0, forward: true };

function interpolationQuery() {
  const q = new URLSearchParams({
    model: state.model, version: state.version, seed_a: state.a, seed_b: state.b,
    steps: state.steps, method: state.method,
  });
  if (state.psi !== null) q.set("truncation", state.psi);
  if (state.ms !== 100) q.set("frame_ms", state.ms);  // the download plays as the page does
  return q;
}

export function animationLinks() {
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
export function changeSpeed() {
  state.ms = Number($("frame-ms").value);
  writeHash();
  animationLinks();
  if (interp.timer) { pause(); play(); }
}

export async function renderInterpolation() {
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

export function showFrame(i) {
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

export function play() {
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

export function pause() {
  clearInterval(interp.timer);
  interp.timer = null;
  $("play").textContent = "Play";
  $("play").setAttribute("aria-pressed", "false");
}

export function submitInterpolation(event) {
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

// the open seed becomes end A or B of the walk
export function useSeed(which) {
  state[which] = state.seed;
  state.seed = null;  // the step is the new end, not a Back: the close adds no entry
  closeDetail();
  writeHash();
  renderInterpolation();
  $(which === "a" ? "seed-a" : "seed-b").focus();
}
