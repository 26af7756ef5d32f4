// The view's state <-> the URL hash, so every view is a permalink; Back and Forward.

import { FRAME_MS, MAX_COUNT } from "./config.js";
import { closeDetail, openDetail } from "./detail.js";
import { selectModel } from "./models.js";
import { showPsi } from "./psi.js";
import { LAST_PAGE, parseSeed } from "./seeds.js";
import { models, state } from "./state.js";

export function readHash() {
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
export const step = (action) => (...args) => {
  stepping = true;
  try { return action(...args); } finally { stepping = false; }
};

export function writeHash() {
  const hash = hashOf();
  const push = stepping && hash !== location.hash;
  if (push) history.pushState(null, "", hash); else history.replaceState(null, "", hash);
  stepping = false;  // one entry per step, however many writes it makes
  // the tab (and a bookmark) says what it shows
  const view = state.seed !== null ? `seed ${state.seed} · ` : "";
  document.title = state.model ? `${view}${state.model} v${state.version} · dcgan-serve` : "dcgan-serve";
  return push;
}

export function permalink(overrides) {
  return location.origin + location.pathname + hashOf(overrides);
}

// Back, Forward or an edited URL: when only the open seed differs, open or close the
// dialog (the gallery and the focus stay); otherwise show the whole new view.
export function followHash() {
  const view = (s) => JSON.stringify({ ...s, seed: null }, (_, v) => (typeof v === "bigint" ? `${v}` : v));
  const before = view(state);
  readHash();
  showPsi();
  if (!models[state.model]) return;
  if (view(state) !== before) { selectModel(); return; }
  if (state.seed !== null) openDetail(state.seed); else closeDetail();
}
