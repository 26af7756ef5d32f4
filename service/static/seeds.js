// Seeds: 64-bit unsigned integers, as BigInt; the gallery shows them PER_PAGE at a time.

export const PER_PAGE = 24n;
export const SEED_MAX = (1n << 64n) - 1n;
export const LAST_PAGE = SEED_MAX / PER_PAGE;

export function parseSeed(text) {
  const t = String(text ?? "").trim();
  if (!/^(0|[1-9][0-9]{0,19})$/.test(t)) return null;
  const n = BigInt(t);
  return n <= SEED_MAX ? n : null;
}

// a seed from the whole 64-bit range, as a random request draws one
export function randomSeed() {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(high) << 32n) | BigInt(low);
}
