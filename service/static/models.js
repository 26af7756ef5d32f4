// The models and their versions: GET /models, the pickers, the poll that notices a new
// export, and drawing the whole view for the model and version chosen.

import { api, report, waiting } from "./api.js";
import { renderCard } from "./card.js";
import { KEY_REQUIRED } from "./config.js";
import { closeDetail, openDetail } from "./detail.js";
import { $, el, say } from "./dom.js";
import { renderGallery } from "./gallery.js";
import { writeHash } from "./history.js";
import { renderInterpolation } from "./interpolation.js";
import { apiKey, askForKey } from "./keys.js";
import { checkPsi } from "./psi.js";
import { models, setModels, state } from "./state.js";

// Nothing that names a model may run before the models are listed (with a key required and
// none given, they never are): it would ask for /models//images/24.png?version=null.
export function modelsLoaded() {
  if (state.model && models[state.model] && state.version !== null) return true;
  if (KEY_REQUIRED && !apiKey()) {
    askForKey("This server needs an API key: enter it under API key first.");
  } else {
    say("The models are not loaded yet.");
  }
  return false;
}

const readyVersions = (name) => (models[name]?.versions ?? []).filter((v) => v.status === "ready");
export const current = () => (models[state.model]?.versions ?? []).find((v) => v.version === state.version);

export async function loadModels() {
  say("Loading models…", { lasting: true });
  try {
    setModels((await (await api("/models")).json()).models);
  } catch (error) { setModels({}); report(error); return; }
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
export const MODELS_POLL_MS = 10_000;
const signature = (m) => JSON.stringify(Object.entries(m).map(([n, x]) =>
  [n, x.default_version, x.versions.map((v) => [v.version, v.status])]));

export async function refreshModels() {
  if (document.visibilityState !== "visible" || !current() || waiting) return;
  let fresh;
  try { fresh = (await (await api("/models")).json()).models; } catch { return; }
  if (signature(fresh) === signature(models)) return;
  setModels(fresh);
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

export function selectModel() {
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

export function renderAll() {
  checkPsi();
  writeHash();
  renderGallery();
  renderCard();
  renderInterpolation();
  if (state.seed !== null) openDetail(state.seed); else closeDetail();
}
