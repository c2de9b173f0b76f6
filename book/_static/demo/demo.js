/* demo.js: the course site's demo page (demo.md). Runs a shipped generator in the page with ONNX Runtime Web
 * (WebAssembly, one thread: no SharedArrayBuffer, no server work). Everything it loads comes from the site:
 * _static/ort/ (onnxruntime-web, copied from its npm package by tools/build_site.py) and
 * _static/demo/models/<name>/ (written by `python -m dflib export <name> --onnx ...`).
 *
 * window.dfganDemo exposes the state for the browser test: the noise, sentence vectors and images of the
 * last grid and interpolation, and the time each grid took.
 */
(function () {
  "use strict";
  const core = window.DfganCore;
  const page = document.getElementById("dfgan-demo");
  if (!page || !core) return;

  const N = 8; // noise draws in the grid, steps in the interpolation strip
  const $ = (id) => document.getElementById(id);
  const staticBase = new URL(page.dataset.static || "_static/", document.baseURI);
  const demo = {
    ready: false,
    error: null,
    model: null,
    renders: 0,
    timings: [], // milliseconds per grid of N images (session.run only)
    grid: null, // {caption, seed, truncation, noise, sentence, images, ms}
    strip: null, // {captionA, captionB, noise, sentences, images}
  };
  window.dfganDemo = demo;
  let session = null;
  let busy = false;
  let again = false;

  function status(text, kind) {
    const el = $("dfgan-status");
    el.textContent = text;
    el.dataset.kind = kind || "info";
  }

  function modelUrl(name, file) {
    return new URL(`demo/models/${name}/${file}`, staticBase).href;
  }

  async function fetchJson(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r.json();
  }

  async function run(noise, sentences, n) {
    const m = demo.model;
    const feeds = {
      noise: new ort.Tensor("float32", noise, [n, m.z_dim]),
      sentence: new ort.Tensor("float32", sentences, [n, m.cond_dim]),
    };
    const t0 = performance.now();
    const out = await session.run(feeds);
    return { images: out.images.data, ms: performance.now() - t0 };
  }

  function draw(container, images, count) {
    const m = demo.model;
    const channels = m.output.images[1];
    const size = m.imsize;
    while (container.children.length < count) {
      const c = document.createElement("canvas");
      c.width = size;
      c.height = size;
      c.className = "dfgan-image";
      container.appendChild(c);
    }
    for (let i = 0; i < count; i++) {
      const canvas = container.children[i];
      const ctx = canvas.getContext("2d");
      ctx.putImageData(new ImageData(core.toPixels(images, i, channels, size), size, size), 0, 0);
      canvas.dataset.index = String(i);
    }
  }

  function repeatRows(vector, times) {
    const out = new Float32Array(vector.length * times);
    for (let i = 0; i < times; i++) out.set(vector, i * vector.length);
    return out;
  }

  function describe(enc, which) {
    const t = demo.model.text;
    const parts = [];
    if (t.kind === "precomputed") {
      if (enc.reason === "not-listed") {
        parts.push(`${which}: this model's text encoder (${t.encoder}) cannot run in the page, and this caption is ` +
          "not one of the captions whose vectors were computed when the site was built: choose one from the list.");
      }
      return parts;
    }
    if (enc.unknown.length) {
      const words = enc.unknown.map((w) => `“${w}”`).join(", ");
      parts.push(`${which}: unknown word${enc.unknown.length > 1 ? "s" : ""} ${words}: ` +
        `the model never saw ${enc.unknown.length > 1 ? "them" : "it"} in its training captions, so ` +
        `${enc.unknown.length > 1 ? "they are" : "it is"} left out` +
        (enc.reason === "no-known-word" ? ", and no word is left: nothing to draw." : "."));
    }
    if (enc.ignored.length) {
      parts.push(`${which}: only the first ${t.words_num} words are read; “${enc.ignored.join(" ")}” is ignored.`);
    }
    return parts;
  }

  function readControls() {
    return {
      captionA: $("dfgan-caption").value,
      captionB: $("dfgan-caption-b").value,
      swapped: $("dfgan-swap").getAttribute("aria-pressed") === "true",
      seed: Math.max(0, Math.floor(Number($("dfgan-seed").value) || 0)),
      truncation: Number($("dfgan-truncation").value),
    };
  }

  async function render() {
    if (!session) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      const c = readControls();
      const m = demo.model;
      $("dfgan-truncation-value").textContent = c.truncation.toFixed(2);
      const encA = core.encodeCaption(m.text, c.captionA);
      const encB = core.encodeCaption(m.text, c.captionB);
      const messages = describe(encA, "Caption").concat(describe(encB, "Second caption"));
      const msg = $("dfgan-caption-message");
      msg.textContent = messages.join(" ");
      msg.hidden = messages.length === 0;
      suggest();
      const shown = c.swapped ? encB : encA;
      const shownCaption = c.swapped ? c.captionB : c.captionA;
      $("dfgan-grid-caption").textContent = `“${shownCaption}”, seed ${c.seed}, truncation ${c.truncation.toFixed(2)}`;
      const noise = core.pageNoise(c.seed, N, m.z_dim, c.truncation, m.bound);
      if (shown.vector) {
        const sentence = repeatRows(shown.vector, N);
        const { images, ms } = await run(noise, sentence, N);
        draw($("dfgan-grid"), images, N);
        demo.timings.push(ms);
        demo.grid = { caption: shownCaption, seed: c.seed, truncation: c.truncation, noise: Array.from(noise),
          sentence: Array.from(shown.vector), images: Array.from(images), ms };
        $("dfgan-timing").textContent = `${N} images in ${ms.toFixed(0)} ms (ONNX Runtime Web, WebAssembly, one thread)`;
      } else {
        demo.grid = null;
        $("dfgan-timing").textContent = "";
      }
      $("dfgan-grid").classList.toggle("dfgan-stale", !shown.vector);
      if (encA.vector && encB.vector) {
        const z = noise.slice(0, m.z_dim);
        const path = core.sentencePath(encA.vector, encB.vector, N);
        const { images } = await run(repeatRows(z, N), path, N);
        draw($("dfgan-strip"), images, N);
        demo.strip = { captionA: c.captionA, captionB: c.captionB, noise: Array.from(z),
          sentences: Array.from(path), images: Array.from(images) };
      } else {
        demo.strip = null;
      }
      $("dfgan-strip").classList.toggle("dfgan-stale", !(encA.vector && encB.vector));
      $("dfgan-strip-a").textContent = `“${c.captionA}”`;
      $("dfgan-strip-b").textContent = `“${c.captionB}”`;
      demo.renders += 1;
    } catch (err) {
      demo.error = String(err && err.stack ? err.stack : err);
      status(`Could not run the model: ${err}`, "error");
    } finally {
      busy = false;
    }
    if (again) {
      again = false;
      render();
    }
  }

  let timer = null;
  function renderSoon() {
    clearTimeout(timer);
    timer = setTimeout(render, 200);
  }

  function wordButton(word, partial, hit) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = word;
    b.className = hit ? "dfgan-word dfgan-hit" : "dfgan-word";
    b.addEventListener("click", () => insertWord(word, partial));
    return b;
  }

  /** Suggestions: the known words that start like the word being typed; and the whole vocabulary. */
  function suggest() {
    if (!demo.model) return;
    const t = demo.model.text;
    if (t.kind === "precomputed") {
      $("dfgan-vocabulary").hidden = true;
      $("dfgan-suggestions").hidden = true;
      return;
    }
    const partial = (($("dfgan-caption").value.match(/(\w*)$/) || ["", ""])[1] || "").toLowerCase();
    const words = Object.keys(t.vectors).filter((w) => w !== t.end_token).sort();
    const hits = partial ? words.filter((w) => w.startsWith(partial) && w !== partial) : [];
    const box = $("dfgan-suggestions");
    box.replaceChildren(...hits.map((w) => wordButton(w, partial, true)));
    box.hidden = hits.length === 0;
    const all = $("dfgan-words");
    if (all.children.length !== words.length) all.replaceChildren(...words.map((w) => wordButton(w, "", false)));
    $("dfgan-vocabulary").querySelector("summary").textContent = `All ${words.length} words the model knows`;
  }

  function insertWord(word, partial) {
    const input = $("dfgan-caption");
    let text = input.value;
    if (partial) text = text.slice(0, text.length - partial.length);
    else if (text && !/\s$/.test(text)) text += " ";
    input.value = text + word + " ";
    input.focus();
    renderSoon();
  }

  function fillExamples(m) {
    const list = $("dfgan-examples");
    const captions = m.text.kind === "precomputed" ? Object.keys(m.text.sentences) : m.examples;
    list.replaceChildren(...captions.map((c) => {
      const o = document.createElement("option");
      o.value = c;
      return o;
    }));
    const ex = $("dfgan-example-buttons");
    ex.replaceChildren(...m.examples.slice(0, 6).map((c) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "dfgan-example";
      b.textContent = c;
      b.addEventListener("click", () => {
        $("dfgan-caption").value = c;
        renderSoon();
      });
      return b;
    }));
  }

  async function loadModel(name) {
    status(`Loading ${name}…`, "info");
    demo.ready = false;
    const m = await fetchJson(modelUrl(name, "model.json"));
    session = await ort.InferenceSession.create(modelUrl(name, m.onnx), {
      executionProviders: ["wasm"],
      graphOptimizationLevel: "all",
    });
    demo.model = m;
    const z = new Float32Array(m.z_dim);
    const s = new Float32Array(m.cond_dim);
    await run(z, s, 1); // warm-up: the first run allocates; the timings shown are of later runs
    fillExamples(m);
    $("dfgan-truncation").value = String(m.truncation);
    const t = m.text;
    const textNote = t.kind === "precomputed"
      ? `its ${t.encoder} text encoder does not run in the page: ${Object.keys(t.sentences).length} captions were ` +
        "encoded when the site was built (pick one from the list)"
      : `a bag of words of ${Object.keys(t.vectors).length - 1} words, computed in the page`;
    $("dfgan-model-note").textContent = `${m.name}: ${m.imsize}×${m.imsize} px, noise ${m.z_dim}-d, sentence ` +
      `${m.cond_dim}-d; text: ${textNote}.`;
    if (t.kind === "precomputed") {
      const first = Object.keys(t.sentences);
      $("dfgan-caption").value = first[0];
      $("dfgan-caption-b").value = first[Math.min(1, first.length - 1)];
    }
    status(`${name} is ready: type a caption.`, "ready");
    demo.ready = true;
    await render();
  }

  async function start() {
    try {
      ort.env.wasm.numThreads = 1; // single-threaded WebAssembly: no SharedArrayBuffer needed
      ort.env.wasm.proxy = false;
      ort.env.wasm.wasmPaths = new URL("ort/", staticBase).href;
      const index = await fetchJson(new URL("demo/models/index.json", staticBase).href);
      const select = $("dfgan-model");
      select.replaceChildren(...index.models.map((name) => {
        const o = document.createElement("option");
        o.value = name;
        o.textContent = name;
        return o;
      }));
      select.hidden = index.models.length < 2;
      select.addEventListener("change", () => loadModel(select.value).catch(fail));
      $("dfgan-caption").addEventListener("input", () => {
        suggest();
        renderSoon();
      });
      $("dfgan-caption").addEventListener("keydown", (e) => { if (e.key === "Enter") render(); });
      $("dfgan-caption-b").addEventListener("input", renderSoon);
      $("dfgan-seed").addEventListener("input", renderSoon);
      $("dfgan-truncation").addEventListener("input", render);
      $("dfgan-new-noise").addEventListener("click", () => {
        $("dfgan-seed").value = String(readControls().seed + 1);
        render();
      });
      $("dfgan-swap").addEventListener("click", () => {
        const b = $("dfgan-swap");
        b.setAttribute("aria-pressed", b.getAttribute("aria-pressed") === "true" ? "false" : "true");
        render();
      });
      await loadModel(index.models[0]);
    } catch (err) {
      fail(err);
    }
  }

  function fail(err) {
    demo.error = String(err && err.stack ? err.stack : err);
    const offline = location.protocol === "file:" ? " (open the site through a web server: browsers do not let a " +
      "page opened from a file load WebAssembly)" : "";
    status(`The demo could not start: ${err}${offline}`, "error");
  }

  start();
})();
