// A seed's picture: its URL and alt text, and showing it in an <img>. <img> tags cannot send
// the API key, so with a key set the picture is fetched with it and shown through an object URL.

import { api, imageFailed, report } from "./api.js";
import { apiKey } from "./keys.js";
import { state } from "./state.js";

// Object URLs are owned by a bucket and revoked when what shows them is replaced.
class Bucket {
  constructor() { this.urls = []; this.generation = 0; }
  renew() { this.urls.forEach(URL.revokeObjectURL); this.urls = []; return ++this.generation; }
}
export const buckets = { gallery: new Bucket(), detail: new Bucket(), card: new Bucket() };

export async function setImage(img, url, bucket) {
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

export function imageUrl(seed, format, extra = {}) {
  const q = new URLSearchParams({ version: state.version, ...extra });
  if (state.psi !== null) q.set("truncation", state.psi);
  return `/models/${encodeURIComponent(state.model)}/images/${seed}.${format}?${q}`;
}

export const label = (seed) => `${state.model} v${state.version}, seed ${seed}` +
  (state.psi !== null ? `, ψ ${state.psi}` : "");
