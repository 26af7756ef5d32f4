// Writes seeded facesjs cartoon faces as JSON Lines: {"index": i, "svg": "...", "face": {...}}.
// facesjs draws with Math.random, so it is replaced by a PRNG seeded from (seed, index):
// face i is the same whatever --count is.
import { readFileSync } from "node:fs";
import { generate, faceToSvgString } from "facesjs";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
if ("version" in args) {
  const path = new URL("./node_modules/facesjs/package.json", import.meta.url);
  const pkg = JSON.parse(readFileSync(path, "utf8"));
  console.log(pkg.version);
  process.exit(0);
}
const count = Number(args.count ?? 10);
const seed = Number(args.seed ?? 0);

// mulberry32: small, fast, good enough for drawing faces
function mulberry32(a) {
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (let i = 0; i < count; i++) {
  Math.random = mulberry32((seed * 1000003 + i) >>> 0);
  const face = generate();
  // the face object too: its attributes label the image (training/quality/feature_data.py)
  process.stdout.write(JSON.stringify({ index: i, svg: faceToSvgString(face), face }) + "\n");
}
