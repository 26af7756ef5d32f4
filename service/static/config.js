// What the server told the page before its first request (service/api/web.py writes these
// data attributes into index.html), and the frame speeds offered.

export const KEY_REQUIRED = document.documentElement.dataset.keyRequired === "true";
export const MAX_COUNT = Number(document.documentElement.dataset.maxCount) || 64;
// DCGAN_MAX_OUTPUT_PIXELS: a download size over it would save a 422's JSON as the picture
export const MAX_PIXELS = Number(document.documentElement.dataset.maxPixels) || 16_777_216;
export const FRAME_MS = [50, 100, 200, 400];  // the speeds offered; 100 ms is the API's default
