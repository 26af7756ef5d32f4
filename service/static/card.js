// The model card: the manifest's training record, the quality numbers beside their floors,
// and the version's pictures (fetched when they come near the screen).

import { $, el } from "./dom.js";
import { buckets, setImage } from "./images.js";
import { current } from "./models.js";
import { state } from "./state.js";

const FILE_ALT = {
  "samples.png": "seeds 0 to 63",
  "training.gif": "the first seeds after every training epoch",
  "losses.png": "discriminator and generator losses during training",
};

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
export function shownFloor(metric, floor) {
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

export function renderCard() {
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
export const cardObserver = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    cardObserver.unobserve(entry.target);
    setImage(entry.target, entry.target.dataset.url, buckets.card);
  }
}, { rootMargin: "200px" });
