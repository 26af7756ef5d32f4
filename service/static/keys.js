// The API key: kept in the tab's sessionStorage, asked for in the key panel, and sent only in
// an X-API-Key header (api.js). Download links cannot send it: with a key the click fetches.

import { api, report } from "./api.js";
import { cardObserver } from "./card.js";
import { KEY_REQUIRED } from "./config.js";
import { $, el, say } from "./dom.js";
import { buckets } from "./images.js";
import { loadModels } from "./models.js";
import { models, setModels, state } from "./state.js";

const KEY_STORE = "dcgan-serve.api-key";

export function apiKey() { return sessionStorage.getItem(KEY_STORE) || ""; }

// The key panel opened, with a message that stays until a key is given.
export function askForKey(message, { focus = false } = {}) {
  $("key-panel").open = true;
  if (focus) $("key").focus();
  say(message, { lasting: true });
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
export function keyedDownload(event) {
  const link = event.currentTarget;
  if (!apiKey() || !link.href) return;
  event.preventDefault();
  downloadWithKey(link.getAttribute("href"), link.download);
}

export async function submitKey(event) {
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

export function forgetKey() {
  sessionStorage.removeItem(KEY_STORE);
  $("key").value = "";
  if (KEY_REQUIRED) {  // nothing more can load: say so, instead of broken images
    setModels({});
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
