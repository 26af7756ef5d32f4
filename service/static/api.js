// Requests to the API: the key in an X-API-Key header, the error's message from our JSON,
// and the retry while the server is away.

import { say } from "./dom.js";
import { apiKey, askForKey } from "./keys.js";
import { loadModels } from "./models.js";

export async function api(path) {
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
export let waiting = 0;  // the timer of the next /healthz look, while the server is away
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
export async function imageFailed() {
  try {
    if ((await fetch("/healthz", { cache: "no-store" })).ok) return;
  } catch { /* fall through */ }
  serverAway();
}

export function report(error) {
  if (error instanceof TypeError) { serverAway(); return; }  // fetch's "Failed to fetch"
  if (error.status === 401) {
    askForKey("This server needs an API key (or the one given is wrong): enter it under API key.");
  } else {
    say(`Error: ${error.message}`, { lasting: true });
  }
}
