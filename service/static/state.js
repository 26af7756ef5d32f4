// The page's shared mutable state: the view (written to and read from the URL hash by
// history.js) and the server's models. Modules import these; nothing is a global.

export const state = {
  model: "", version: null, page: 0n, seed: null, psi: null,
  a: 1n, b: 2n, steps: 16, method: "slerp", ms: 100,
};

// GET /models: name -> {default_version, versions}. A live binding: importers read the
// current list; only setModels replaces it.
export let models = {};
export function setModels(fresh) { models = fresh; }
