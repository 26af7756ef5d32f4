// Small DOM helpers: an element by id, a new element, the status line, a copy to the clipboard.

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// A message shows where the person is looking (in the dialog while it is open: the page's
// line sits behind its backdrop) and, unless it needs an action, clears after a while.
const SAY_MS = 6000;
let sayTimer = 0;
export function say(text, { lasting = false } = {}) {
  const here = $("detail").open ? $("detail-status") : $("status");
  for (const line of [$("status"), $("detail-status")]) line.textContent = line === here ? text : "";
  clearTimeout(sayTimer);
  if (text && !lasting) sayTimer = setTimeout(() => { if (here.textContent === text) here.textContent = ""; }, SAY_MS);
}

export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    say("Copied to the clipboard.");
  } catch {  // no clipboard (plain http on another host) or no permission
    input.focus();
    input.select();
    say("Selected: press Ctrl+C (⌘C) to copy.");
  }
}
