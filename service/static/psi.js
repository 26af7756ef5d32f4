// Truncation ψ: the checkbox and slider, and whether the version shown offers it.

import { $, say } from "./dom.js";
import { current, renderAll } from "./models.js";
import { state } from "./state.js";

export function showPsi() {
  const on = state.psi !== null;
  $("psi-on").checked = on;
  $("psi").disabled = !on;
  if (on) $("psi").value = state.psi;
  $("psi-value").textContent = on ? `ψ = ${state.psi}` : "off";
}

// a version exported before truncation centers existed answers ψ with a 422: offer none
export function checkPsi() {
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

export const PSI_SETTLE_MS = 350;

export function changePsi() {
  state.psi = $("psi-on").checked ? $("psi").value : null;
  showPsi();
  if (state.model) renderAll();
}
