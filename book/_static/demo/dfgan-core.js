/* dfgan-core.js: the demo page's arithmetic, with no DOM (it runs in node for the unit tests too).
 *
 * - tokenize(text): dflib.data.vocab.tokenize (lower case, \w runs, non-ASCII dropped inside tokens)
 * - encodeCaption(table, caption): the sentence vector from model.json's text table (dfexport.export):
 *   a bag of words (sum of the known words' vectors / sqrt(count) x scale, float32 like PyTorch) or a
 *   precomputed caption list; unknown words are reported, not guessed
 * - pageNoise(seed, n, zDim, truncation, bound): seeded truncated normal noise; dfexport.export.page_noise
 *   repeats it in Python (mulberry32 uniforms, Box-Muller, values outside [-bound, bound] drawn again)
 * - sentencePath(a, b, steps): the straight line between two sentence vectors (interpolation)
 * - toPixels(images, index, channels, size): one generated image in [-1, 1] as RGBA bytes
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.DfganCore = factory();
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  const WORD = /[\p{L}\p{N}_]+/gu; // Python's \w on str: letters, digits (every script) and "_"

  /** Tokens of a caption, as dflib.data.vocab.tokenize gives them. */
  function tokenize(text) {
    const lower = String(text).replace(/\uFFFD\uFFFD/g, " ").toLowerCase();
    const out = [];
    for (const m of lower.matchAll(WORD)) {
      const tok = m[0].replace(/[^\x00-\x7F]/g, "");
      if (tok) out.push(tok);
    }
    return out;
  }

  const float32Vectors = new WeakMap(); // table -> {word: Float32Array}

  /** A word's vector as float32: the JSON's decimals are the shortest that give back each float32. */
  function wordVector(table, word) {
    let cache = float32Vectors.get(table);
    if (!cache) float32Vectors.set(table, (cache = {}));
    if (!cache[word]) cache[word] = Float32Array.from(table.vectors[word]);
    return cache[word];
  }

  /** The bag-of-words sentence: float32 sum word by word, / sqrt(count), x scale (float32 at each step). */
  function bagOfWords(table, words) {
    const dim = table.dim;
    const acc = new Float32Array(dim); // Float32Array stores round to float32: the sum is float32 throughout
    for (const w of words) {
      const v = wordVector(table, w);
      for (let i = 0; i < dim; i++) acc[i] = acc[i] + v[i];
    }
    const root = Math.fround(Math.sqrt(words.length));
    const scale = Math.fround(table.scale);
    const out = new Float32Array(dim);
    for (let i = 0; i < dim; i++) out[i] = Math.fround(acc[i] / root) * scale;
    return out;
  }

  /**
   * The sentence vector of a caption from a model.json text table.
   * Returns {vector (Float32Array or null), tokens, used, unknown, ignored, reason}: `unknown` are words
   * the table lacks (left out), `ignored` the tokens past words_num (the encoder reads only the first ones),
   * `reason` says why vector is null.
   */
  function encodeCaption(table, caption) {
    const tokens = tokenize(caption);
    if (table.kind === "precomputed") {
      const key = tokens.join(" ");
      for (const [c, vec] of Object.entries(table.sentences)) {
        if (tokenize(c).join(" ") === key) {
          return { vector: Float32Array.from(vec), tokens, used: tokens, unknown: [], ignored: [], reason: null };
        }
      }
      return { vector: null, tokens, used: [], unknown: [], ignored: [], reason: "not-listed" };
    }
    const read = tokens.slice(0, table.words_num);
    const ignored = tokens.slice(table.words_num);
    const unknown = read.filter((t) => !(t in table.vectors));
    let used = read.filter((t) => t in table.vectors);
    if (read.length === 0) used = [table.end_token]; // an empty caption: the encoder's <end> vector
    if (used.length === 0) return { vector: null, tokens, used, unknown, ignored, reason: "no-known-word" };
    return { vector: bagOfWords(table, used), tokens, used, unknown, ignored, reason: null };
  }

  /** One step of mulberry32 on a uint32 state: [new state, 32-bit output]. */
  function mulberry32(state) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1) >>> 0;
    t = (((t + (Math.imul(t ^ (t >>> 7), t | 61) >>> 0)) >>> 0) ^ t) >>> 0;
    return [state, (t ^ (t >>> 14)) >>> 0];
  }

  /** (n x zDim) float32 noise, row-major: truncated normal in [-bound, bound] times truncation. */
  function pageNoise(seed, n, zDim, truncation, bound) {
    if (!(bound > 0)) throw new Error("truncation bound must be > 0");
    const total = n * zDim;
    const raw = new Float64Array(total);
    let state = seed >>> 0;
    let k = 0;
    while (k < total) {
      let a, b;
      [state, a] = mulberry32(state);
      [state, b] = mulberry32(state);
      const r = Math.sqrt(-2.0 * Math.log((a + 0.5) / 4294967296.0));
      const theta = 2.0 * Math.PI * ((b + 0.5) / 4294967296.0);
      for (const z of [r * Math.cos(theta), r * Math.sin(theta)]) {
        if (Math.abs(z) <= bound && k < total) raw[k++] = z;
      }
    }
    const out = new Float32Array(total);
    for (let i = 0; i < total; i++) out[i] = raw[i] * truncation;
    return out;
  }

  /** steps sentence vectors from a to b, evenly spaced, ends included: (steps x dim) row-major. */
  function sentencePath(a, b, steps) {
    const dim = a.length;
    const out = new Float32Array(steps * dim);
    for (let s = 0; s < steps; s++) {
      const t = steps === 1 ? 0 : s / (steps - 1);
      for (let i = 0; i < dim; i++) out[s * dim + i] = (1 - t) * a[i] + t * b[i];
    }
    return out;
  }

  /** RGBA bytes of image `index` of a (n, channels, size, size) batch in [-1, 1] (as torchvision saves PNGs). */
  function toPixels(images, index, channels, size) {
    const plane = size * size;
    const px = new Uint8ClampedArray(plane * 4);
    const start = index * channels * plane;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) {
        const x = images[start + Math.min(c, channels - 1) * plane + p];
        px[p * 4 + c] = Math.max(0, Math.min(255, Math.floor(((x + 1) / 2) * 255 + 0.5)));
      }
      px[p * 4 + 3] = 255;
    }
    return px;
  }

  return { tokenize, encodeCaption, bagOfWords, mulberry32, pageNoise, sentencePath, toPixels };
});
