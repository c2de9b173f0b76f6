"""``dfexport.export`` / ``python -m dflib export``: the shipped generator as ONNX, run by onnxruntime against
PyTorch on the same noise and captions, and the JSON text table against the encoder. The demo page's own
JavaScript (book/_static/demo/dfgan-core.js) is run in node where node is installed, so the numbers the browser
computes are checked here too."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from dflib.config import TrainConfig, config_from_dict
from dfexport.export import (
    bag_of_words_table,
    example_captions,
    export_for_page,
    page_noise,
    precomputed_table,
    table_sentence,
)
from dflib.pretrained import FORMAT as PRETRAINED_FORMAT
from dflib.pretrained import load_pretrained
from dflib.text import BagOfWordsEncoder, ScaledTextEncoder, build_encoder

ROOT = Path(__file__).resolve().parents[1]
CORE_JS = ROOT / "book" / "_static" / "demo" / "dfgan-core.js"
NODE = shutil.which("node")
CAPTIONS = ["a red circle", "a big blue square on the left", "there is a small yellow star in the centre",
            "A WHITE heart, on the right!", "a large purple cross colored violet at the right side against a grey "
            "background with a tiny little huge big small red circle"]  # the last one: more than 18 words
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "shapes-32"
    meta = export_for_page("shapes-32", out)
    netG, info = load_pretrained("shapes-32")
    encoder = build_encoder(config_from_dict(info["config"]), None, "cpu")
    return out, meta, netG, encoder


def _node(script: str, *args: str) -> object:
    proc = subprocess.run([NODE, "-e", script, str(CORE_JS), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_onnx_generator_equals_pytorch_on_the_same_noise_and_captions(exported):
    out, meta, netG, encoder = exported
    sess = ort.InferenceSession(str(out / "generator.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["noise", "sentence"]
    assert [o.name for o in sess.get_outputs()] == ["images"]
    worst = 0.0
    for seed, n in ((0, 8), (7, 1), (3, 13)):  # the batch size is free
        noise = page_noise(seed, n, meta["z_dim"], truncation=0.88)
        for caption in CAPTIONS:
            sent = encoder.encode([caption]).sent.float().repeat(n, 1)
            got = sess.run(None, {"noise": noise.numpy(), "sentence": sent.numpy()})[0]
            with torch.no_grad():
                ref = netG(noise, sent).numpy()
            assert got.shape == ref.shape == (n, 3, meta["imsize"], meta["imsize"])
            worst = max(worst, float(np.abs(got - ref).max()))
    print(f"max |onnxruntime - PyTorch| over {3 * len(CAPTIONS)} batches: {worst:.2e}")
    assert worst < 2e-5
    assert abs(got).max() <= 1.0  # tanh output


def test_the_onnx_file_is_not_a_constant(exported):
    """A broken export (inputs baked in as constants) would pass the comparison at one input only."""
    out, meta, netG, encoder = exported
    sess = ort.InferenceSession(str(out / "generator.onnx"), providers=["CPUExecutionProvider"])
    sent = encoder.encode(["a red circle", "a blue square"]).sent.float().numpy()
    noise = page_noise(0, 1, meta["z_dim"]).numpy().repeat(2, 0)
    a, b = sess.run(None, {"noise": noise, "sentence": sent})[0]
    assert np.abs(a - b).mean() > 0.05
    assert a[0].mean() > a[2].mean() and b[2].mean() > b[0].mean()  # red circle is red, blue square is blue


def test_json_word_vectors_are_the_encoders_bit_for_bit(exported):
    out, meta, netG, encoder = exported
    text = json.loads((out / "model.json").read_text())["text"]
    _, info = load_pretrained("shapes-32")
    assert text["kind"] == "bag-of-words" and meta["text"] == text
    assert set(text["vectors"]) == set(info["vocab"])  # the training captions' words and <end>
    assert text["words_num"] == 18 and text["dim"] == meta["cond_dim"] == 384
    assert np.float32(text["scale"]) == np.float32(0.3) == np.float32(encoder.scale)
    bow = encoder.inner
    for word, vec in text["vectors"].items():
        assert np.array_equal(np.asarray(vec, np.float32), bow._word(word).numpy()), word


def test_json_sentence_vectors_equal_the_encoders(exported):
    out, meta, netG, encoder = exported
    text = meta["text"]
    captions = CAPTIONS + meta["examples"] + [""]
    worst = 0.0
    for caption in captions:
        vec, unknown = table_sentence(text, caption)
        assert unknown == [] and vec is not None
        ref = encoder.encode([caption]).sent[0].numpy()
        worst = max(worst, float(np.abs(vec - ref).max()))
    print(f"max |JSON table sentence - encoder| over {len(captions)} captions: {worst:.2e} (float32 sum order)")
    assert worst <= 1e-6
    with pytest.raises(AssertionError):  # the check can fail: another scale is visibly different
        wrong = dict(text, scale=0.31)
        vec, _ = table_sentence(wrong, captions[0])
        assert np.abs(vec - encoder.encode([captions[0]]).sent[0].numpy()).max() <= 1e-6


def test_unknown_words_are_named_and_left_out(exported):
    out, meta, netG, encoder = exported
    text = meta["text"]
    vec, unknown = table_sentence(text, "a red dog near the tree")
    assert unknown == ["dog", "tree"]
    assert np.allclose(vec, encoder.encode(["a red near the"]).sent[0].numpy(), atol=1e-6)
    assert table_sentence(text, "dog tree") == (None, ["dog", "tree"])


_NODE_SENTENCES = """
const core = require(process.argv[1]);
const table = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8')).text;
const captions = JSON.parse(process.argv[3]);
console.log(JSON.stringify(captions.map((c) => {
  const e = core.encodeCaption(table, c);
  return {vector: e.vector ? Array.from(e.vector) : null, unknown: e.unknown, ignored: e.ignored, tokens: e.tokens};
})));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed (the site build installs it)")
def test_the_pages_javascript_computes_the_same_sentence_vectors(exported):
    out, meta, netG, encoder = exported
    captions = CAPTIONS + ["a red dog", "naïve café circle", "", "dog"]
    got = _node(_NODE_SENTENCES, str(out / "model.json"), json.dumps(captions))
    from dflib.data import tokenize

    worst = 0.0
    for caption, js in zip(captions, got):
        assert js["tokens"] == tokenize(caption), caption
        py, unknown = table_sentence(meta["text"], caption)
        assert js["unknown"] == unknown
        if py is None:
            assert js["vector"] is None
            continue
        assert np.array_equal(np.asarray(js["vector"], np.float32), py), caption  # same float32 arithmetic
        if not unknown:
            worst = max(worst, float(np.abs(py - encoder.encode([caption]).sent[0].numpy()).max()))
    print(f"JavaScript = Python table bit for bit; max |JavaScript - encoder| {worst:.2e}")
    assert worst <= 1e-6
    assert got[4]["ignored"] == tokenize(captions[4])[18:] != []


_NODE_NOISE = """
const core = require(process.argv[1]);
const cases = JSON.parse(process.argv[2]);
console.log(JSON.stringify(cases.map(([seed, n, z, t]) => Array.from(core.pageNoise(seed, n, z, t, 2.0)))));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed (the site build installs it)")
def test_the_pages_noise_is_page_noise():
    cases = [(0, 8, 32, 0.88), (1, 8, 32, 0.88), (4294967295, 3, 100, 1.0), (12345, 2, 7, 0.0)]
    got = _node(_NODE_NOISE, json.dumps(cases))
    same = 0
    for (seed, n, z, t), values in zip(cases, got):
        js = np.asarray(values, np.float32)
        py = page_noise(seed, n, z, truncation=t).numpy().ravel()
        assert js.shape == py.shape and np.abs(js - py).max() <= 1e-6, (seed, np.abs(js - py).max())
        same += int(np.array_equal(js, py))
    print(f"JavaScript noise = page_noise bit for bit in {same} of {len(cases)} cases")


def test_page_noise_is_a_seeded_truncated_normal():
    z = page_noise(0, 400, 50, truncation=1.0).numpy()
    from scipy.stats import truncnorm

    assert z.dtype == np.float32 and np.abs(z).max() <= 2.0
    assert abs(z.std() - truncnorm.std(-2, 2)) < 0.02 and abs(z.mean()) < 0.025  # 4 sigma of 20,000 draws
    assert np.array_equal(page_noise(0, 400, 50, truncation=1.0).numpy(), z)  # seeded
    assert not np.allclose(page_noise(1, 400, 50, truncation=1.0).numpy(), z)
    assert np.allclose(page_noise(0, 400, 50, truncation=0.5).numpy(), z * 0.5)  # the slider scales the same draws
    assert np.array_equal(page_noise(0, 2, 50).numpy(), page_noise(0, 3, 50).numpy()[:2])  # rows in order
    with pytest.raises(ValueError, match="bound"):
        page_noise(0, 1, 4, bound=0)


def test_cli_writes_the_files_and_refuses_an_unknown_model(tmp_path, capsys):
    from dflib.__main__ import main

    captions = tmp_path / "captions.txt"
    captions.write_text("a red circle\n\na blue square\n")
    assert main(["export", "shapes-32", "--onnx", str(tmp_path / "m"), "--captions-file", str(captions)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["text"] == "bag-of-words" and report["entries"] == 61
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["examples"] == ["a red circle", "a blue square"] and meta["format"] == "dfgan-page-1"
    assert (tmp_path / "m" / "generator.onnx").stat().st_size > 1_000_000
    assert main(["export", "no-such-model", "--onnx", str(tmp_path / "x")]) == 2
    assert "no shipped model called 'no-such-model'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_example_captions_are_distinct_captions_of_the_models_data():
    _, info = load_pretrained("shapes-32")
    caps = example_captions(info["config"]["data"], 32, limit=12)
    assert len(caps) == len(set(caps)) == 12
    assert all(("circle" in c or "square" in c or "star" in c or "heart" in c or "triangle" in c or "cross" in c
                or "plus" in c or "box" in c or "disc" in c or "disk" in c) for c in caps)


def test_an_encoder_the_page_cannot_run_becomes_precomputed_sentences(tmp_path):
    """A shipped model with a MiniLM text encoder (as the emoji presets use): the page gets the sentence vectors
    of a caption list, equal to the encoder's, instead of a table it cannot compute."""
    from dflib.config import ModelConfig, build_models

    cfg = TrainConfig(model=ModelConfig(imsize=32, ngf=2, ndf=2, z_dim=4, cond_dim=384), text_encoder="minilm",
                      text_scale=5.0)
    netG = build_models(cfg.model)[0]
    folder = tmp_path / "tiny-minilm"
    folder.mkdir()
    torch.save({"format": PRETRAINED_FORMAT, "netG": {k: v.half() for k, v in netG.state_dict().items()},
                "config": cfg.to_dict(), "vocab": None, "step": 1}, folder / "generator.pt")
    (folder / "card.json").write_text(json.dumps({"name": "tiny-minilm", "steps": 1}))
    captions = ["a grinning face", "a red apple", "a grinning face"]
    meta = export_for_page("tiny-minilm", tmp_path / "out", root=tmp_path, captions=captions)
    text = meta["text"]
    assert text["kind"] == "precomputed" and text["encoder"] == "minilm"
    assert list(text["sentences"]) == ["a grinning face", "a red apple"] and meta["examples"] == captions
    enc = build_encoder(cfg, None, "cpu")
    for caption, vec in text["sentences"].items():
        assert np.array_equal(np.asarray(vec, np.float32), enc.encode([caption]).sent[0].float().numpy())
    sess = ort.InferenceSession(str(tmp_path / "out" / "generator.onnx"), providers=["CPUExecutionProvider"])
    noise = page_noise(0, 2, 4)
    sent = torch.tensor(list(text["sentences"].values()), dtype=torch.float32)
    netG, _ = load_pretrained("tiny-minilm", root=tmp_path)
    with torch.no_grad():
        ref = netG(noise, sent).numpy()
    assert np.abs(sess.run(None, {"noise": noise.numpy(), "sentence": sent.numpy()})[0] - ref).max() < 1e-5


def test_tables_refuse_what_they_cannot_represent():
    with pytest.raises(TypeError, match="not a bag-of-words"):
        bag_of_words_table(torch.nn.Identity(), ["a"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one caption"):
        precomputed_table(BagOfWordsEncoder(8), [], "bow")
    table = bag_of_words_table(ScaledTextEncoder(BagOfWordsEncoder(8, words_num=3), 2.0), ["red", "circle"])
    assert list(table["vectors"]) == ["<end>", "red", "circle"] and table["scale"] == 2.0
