"""SavedModel export: reloaded without our package, against the Keras model.

One tiny pretrainer is exported per test process (module fixture); each test
that needs a fresh interpreter starts its own, so the tests can be spread over
xdist workers.
"""

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from spanbert_keras.config import DataConfig
from spanbert_keras.config import MaskingConfig
from spanbert_keras.config import ModelConfig
from spanbert_keras.config import PretrainConfig
from spanbert_keras.config import TrainingConfig
from spanbert_keras.data.packing import pack_ids
from spanbert_keras.data.span_masker import SpanMasker
from spanbert_keras.data.span_targets import span_targets
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.data.vocabulary import build_vocabulary
from spanbert_keras.data.vocabulary import load_vocabulary
from spanbert_keras.export import export_saved_model
from spanbert_keras.export import read_export_info
from spanbert_keras.export import saved_model_signatures
from spanbert_keras.export.archive import DESCRIPTION_FIELDS
from spanbert_keras.export.archive import GRAPH_FIELDS
from spanbert_keras.training.build import build_pretrainer

HERE = os.path.dirname(os.path.abspath(__file__))
L, H, K, PAIR, SEED = 16, 16, 5, 4, 3
P = 3  # ceil(0.15 * (L - 2)) target slots of the masker
TOL = 1e-5
MODEL_CONFIG = ModelConfig(
    num_layers=1,
    hidden_dim=H,
    num_heads=2,
    intermediate_dim=32,
    max_sequence_length=32,
    dropout=0.0,
    max_pair_targets=PAIR,
    position_embedding_dim=8,
)
LONG = (
    "She was the youngest of the two daughters of a most affectionate, indulgent "
    "father; and had, in consequence of her sister's marriage, been mistress of "
    "his house from a very early period."
)
TEXTS = [
    "Emma Woodhouse, handsome, clever, and rich, with a comfortable home.",
    "",
    LONG,
    "Ünïcödé ☃ and tabs\tand\nnewlines",
    "Her mother had died too long ago.",
]
MASKED_TEXTS = [
    "Emma [MASK] [MASK], handsome, [MASK], and rich.",
    "[MASK]",
    "",
    "no mask at all in this one",
    "[MASK][MASK] [MASK]x, then [MASK] [MASK] [MASK] [MASK] [MASK] [MASK]",
    LONG.replace("early", "[MASK]").replace("youngest", "[MASK] [MASK]"),
]


# ------------------------------------------------------------------ fixtures


def _shared_dir(tmp_path_factory):
    """A folder of this test session that every xdist worker sees."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _export_once(root, demo_corpus, config):
    """Builds, exports, moves the export and deletes the vocab file (once per session)."""
    corpus = root / "corpus.txt"
    with open(demo_corpus, encoding="utf-8") as f:
        corpus.write_text("".join(f.readline() for _ in range(1000)), encoding="utf-8")
    vocab_file = root / "vocab" / "vocab.txt"
    vocabulary = build_vocabulary([corpus], vocab_size=1000, show_progress=False)
    vocabulary.save(vocab_file)
    (root / "tokens.json").write_text(json.dumps(vocabulary.tokens), encoding="utf-8")
    keras_model = build_pretrainer(MODEL_CONFIG, vocabulary.size, config.training)
    rng = np.random.default_rng(0)
    for head in (keras_model.mlm_head, keras_model.sbo_head):
        # Spread the (zero-initialised) biases so top-k has no near ties.
        bias = [w for w in head.weights if tuple(w.shape) == (vocabulary.size,)][0]
        bias.assign(rng.normal(0, 1.0, bias.shape).astype("float32"))
    np.savez(root / "weights.npz", *[v.numpy() for v in keras_model.weights])
    paths = export_saved_model(
        keras_model,
        str(vocab_file),
        str(root / "build" / "saved_models" / "tiny" / "1"),
        include_masker=True,
        config=config,
    )
    (root / "paths.json").write_text(json.dumps(paths), encoding="utf-8")
    shutil.move(str(root / "build" / "saved_models"), str(root / "served" / "saved_models"))
    shutil.rmtree(root / "vocab")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, demo_corpus):
    """A tiny random pretrainer exported, then moved, its vocab file deleted.

    Exported once per session (a file lock makes xdist workers share it); each
    worker rebuilds the Keras model from the saved weights.
    """
    config = PretrainConfig(
        model=MODEL_CONFIG,
        masking=MaskingConfig(random_token_distribution="uniform"),
        data=DataConfig(sequence_length=L, seed=SEED),
        training=TrainingConfig(jit_compile=False),
    )
    root = _shared_dir(tmp_path_factory) / "saved-model-export"
    root.mkdir(exist_ok=True)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "done").exists():
            _export_once(root, demo_corpus, config)
            (root / "done").touch()
    vocabulary = load_vocabulary(json.loads((root / "tokens.json").read_text(encoding="utf-8")))
    keras_model = build_pretrainer(MODEL_CONFIG, vocabulary.size, config.training)
    with np.load(root / "weights.npz") as weights:
        for index, variable in enumerate(keras_model.weights):
            variable.assign(weights[f"arr_{index}"])
    served = root / "served" / "saved_models"
    return {
        "model": keras_model,
        "vocabulary": vocabulary,
        "paths": json.loads((root / "paths.json").read_text(encoding="utf-8")),
        "text_dir": str(served / "tiny" / "1"),
        "ids_dir": str(served / "tiny-ids" / "1"),
        "build_root": str(root / "build"),
        "vocab_dir": str(root / "vocab"),
        "root": tmp_path_factory.mktemp("export"),
    }


# -------------------------------------------------------------------- oracles


def pack(rows, vocab):
    """NumPy packing oracle: [CLS] ids[:L-2] [SEP] [PAD]..."""
    token_ids = np.full((len(rows), L), vocab.pad_id, "int32")
    padding_mask = np.zeros((len(rows), L), "int32")
    for i, row in enumerate(rows):
        ids = [vocab.cls_id] + list(row[: L - 2]) + [vocab.sep_id]
        token_ids[i, : len(ids)] = ids
        padding_mask[i, : len(ids)] = 1
    truncated = np.array([len(row) > L - 2 for row in rows])
    return token_ids, padding_mask, truncated


def mask_runs(token_ids, padding_mask, mask_id, max_pair_targets=PAIR):
    """NumPy oracle of the [MASK]-run spans (SBO boundaries s-1, e+1)."""
    batch, length = token_ids.shape
    is_mask = (token_ids == mask_id) & (padding_mask != 0)
    slots = max([int(is_mask[i].sum()) for i in range(batch)] + [0])
    out = {
        "mask_positions": np.zeros((batch, slots), "int32"),
        "mask_weights": np.zeros((batch, slots), "float32"),
        "span_boundaries": np.zeros((batch, slots, 2), "int32"),
        "span_offsets": np.zeros((batch, slots), "int32"),
        "sbo_weights": np.zeros((batch, slots), "float32"),
    }
    for b in range(batch):
        slot = 0
        i = 0
        while i < length:
            if not is_mask[b, i]:
                i += 1
                continue
            s = i
            while i < length and is_mask[b, i]:
                i += 1
            e = i - 1
            left, right = s - 1, e + 1
            for j in range(s, e + 1):
                out["mask_positions"][b, slot] = j
                out["mask_weights"][b, slot] = 1
                out["span_boundaries"][b, slot] = [max(left, 0), min(right, length - 1)]
                out["span_offsets"][b, slot] = j - s
                out["sbo_weights"][b, slot] = float(
                    j - s < max_pair_targets
                    and left >= 0
                    and right < length
                    and padding_mask[b, left] != 0
                    and padding_mask[b, right] != 0
                )
                slot += 1
    return out


def log_softmax(logits):
    logits = np.asarray(logits, "float64")
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def assert_top_k(outputs, prefix, head, log_probs, vocab, weights):
    """Top-k log-probabilities within TOL, ids / tokens equal (no near ties)."""
    order = np.argsort(-log_probs, axis=-1, kind="stable")[..., :K]
    expected = np.take_along_axis(log_probs, order, axis=-1)
    values = outputs[f"{prefix}/{head}_top_log_probs"]
    ids = outputs[f"{prefix}/{head}_top_ids"]
    tokens = outputs[f"{prefix}/{head}_top_tokens"] if f"{prefix}/{head}_top_tokens" in outputs else None
    assert values.shape == expected.shape, (prefix, head, values.shape, expected.shape)
    diff = np.abs(values - expected).max(initial=0.0)
    print(f"{prefix} {head} top-k log-prob max |diff| = {diff:.2e}")
    assert diff <= TOL, (prefix, head, diff)
    sorted_all = np.sort(log_probs, axis=-1)[..., ::-1][..., : K + 1]
    gaps = np.minimum(
        np.abs(np.diff(sorted_all, axis=-1))[..., :K],
        np.abs(np.diff(sorted_all, axis=-1, prepend=np.inf))[..., :K],
    )
    valid = np.broadcast_to(weights[..., None] > 0, gaps.shape)
    clear = (gaps > 10 * TOL) & valid
    assert clear[valid].mean() > 0.9 if valid.any() else True
    np.testing.assert_array_equal(ids[clear], order[clear])
    if tokens is not None:
        np.testing.assert_array_equal(decode(tokens), np.array(vocab.tokens)[ids])


def decode(tokens):
    return np.vectorize(lambda t: t.decode("utf-8"), otypes=[str])(tokens)


def keras_encode(model, token_ids, padding_mask):
    out = model({"token_ids": token_ids, "padding_mask": padding_mask})
    return {k: np.asarray(out[k]) for k in ("sequence_output", "pooled_output")}


def keras_heads(model, token_ids, padding_mask, spans):
    out = model(
        {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "mask_positions": spans["mask_positions"],
            "span_boundaries": spans["span_boundaries"],
            "span_offsets": spans["span_offsets"],
        }
    )
    return log_softmax(out["mlm_logits"]), log_softmax(out["sbo_logits"])


def assert_encoded(outputs, prefix, model, token_ids, padding_mask, truncated):
    np.testing.assert_array_equal(outputs[f"{prefix}/token_ids"], token_ids)
    np.testing.assert_array_equal(outputs[f"{prefix}/padding_mask"], padding_mask)
    np.testing.assert_array_equal(outputs[f"{prefix}/truncated"], truncated)
    reference = keras_encode(model, token_ids, padding_mask)
    for key, value in reference.items():
        diff = np.abs(outputs[f"{prefix}/{key}"] - value).max()
        print(f"{prefix} {key} max |diff| = {diff:.2e}")
        assert diff <= TOL, (prefix, key, diff)


def assert_filled(outputs, prefix, model, vocab, token_ids, padding_mask, truncated):
    np.testing.assert_array_equal(outputs[f"{prefix}/token_ids"], token_ids)
    np.testing.assert_array_equal(outputs[f"{prefix}/padding_mask"], padding_mask)
    np.testing.assert_array_equal(outputs[f"{prefix}/truncated"], truncated)
    spans = mask_runs(token_ids, padding_mask, vocab.mask_id)
    for key, value in spans.items():
        np.testing.assert_array_equal(outputs[f"{prefix}/{key}"], value, err_msg=key)
    mlm, sbo = keras_heads(model, token_ids, padding_mask, spans)
    assert_top_k(outputs, prefix, "mlm", mlm, vocab, spans["mask_weights"])
    assert_top_k(outputs, prefix, "sbo", sbo, vocab, spans["mask_weights"])


def encode_inputs(vocab):
    """Padded ids [3, 20]: a row longer than L (truncated), a short one, [CLS][SEP]."""
    rng = np.random.default_rng(1)
    token_ids = np.zeros((3, 20), "int32")
    padding_mask = np.zeros((3, 20), "int32")
    for row, length in enumerate((20, 9, 2)):
        ids = [vocab.cls_id] + list(rng.integers(5, vocab.size, length - 2)) + [vocab.sep_id]
        token_ids[row, :length] = ids
        padding_mask[row, :length] = 1
    return token_ids, padding_mask


def run_loader(mode, model_dir, inputs, tmp_path):
    inputs_path = tmp_path / f"{mode}_inputs.npz"
    outputs_path = tmp_path / f"{mode}_outputs.npz"
    np.savez(inputs_path, **inputs)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(HERE, "load_without_package.py"),
            mode,
            model_dir,
            str(inputs_path),
            str(outputs_path),
        ],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    with np.load(outputs_path) as data:
        outputs = {k: data[k] for k in data.files}
    return report, outputs


# ---------------------------------------------------------------------- tests


def test_text_saved_model_matches_keras_without_our_package(exported, tmp_path):
    model, vocab = exported["model"], exported["vocabulary"]
    tokenizer = SpanBertTokenizer(vocab)
    ids, mask = encode_inputs(vocab)
    inputs = {
        "serving_default/text": np.array(TEXTS),
        "encode/token_ids": ids,
        "encode/padding_mask": mask,
        "fill_spans/text": np.array(MASKED_TEXTS),
        "mask_and_score/text": np.array(TEXTS),
    }
    report, outputs = run_loader("text", exported["text_dir"], inputs, tmp_path)
    assert report["signatures"] == [
        "encode",
        "fill_spans",
        "mask_and_score",
        "serving_default",
    ]
    assert report["imported"] == {
        "spanbert_keras": False,
        "keras_hub": False,
        "tensorflow_text": True,
    }

    # serving_default: in-graph tokenisation + packing, then the encoder.
    packed = pack(tokenizer.tokenize(TEXTS).to_list(), vocab)
    assert packed[2].tolist() == [True, False, True, False, False]
    assert packed[1][1].tolist() == [1, 1] + [0] * (L - 2)  # "" -> [CLS] [SEP]
    assert_encoded(outputs, "serving_default", model, *packed)

    # encode: ids cut to L, the cut row flagged.
    assert_encoded(
        outputs, "encode", model, ids[:, :L], mask[:, :L], np.array([True, False, False])
    )

    # fill_spans: [MASK] runs -> spans, both heads' top-k.
    rows = tokenizer.tokenize(MASKED_TEXTS, mask_token_in_text=True).to_list()
    packed_masked = pack(rows, vocab)
    counts = [(row == vocab.mask_id).sum() for row in packed_masked[0]]
    assert counts == [3, 1, 0, 0, 9, 2]  # the last row's third mask was cut off
    assert packed_masked[2].tolist() == [False, False, False, False, False, True]
    assert_filled(outputs, "fill_spans", model, vocab, *packed_masked)
    # A run of two [MASK]s is one span: shared boundaries, offsets 0 and 1.
    np.testing.assert_array_equal(outputs["fill_spans/span_boundaries"][0, :2], [[1, 4], [1, 4]])
    np.testing.assert_array_equal(outputs["fill_spans/span_offsets"][0, :3], [0, 1, 0])

    # mask_and_score: the training masker (static masks, seed from the config).
    masker = SpanMasker(vocab, max_pair_targets=PAIR, seed=SEED)
    batch = masker({"token_ids": packed[0], "padding_mask": packed[1] > 0})
    for key in (
        "token_ids",
        "mask_positions",
        "mask_ids",
        "mask_weights",
        "span_boundaries",
        "span_offsets",
        "sbo_weights",
    ):
        np.testing.assert_array_equal(
            outputs[f"mask_and_score/{key}"], np.asarray(batch[key]), err_msg=key
        )
    np.testing.assert_array_equal(outputs["mask_and_score/padding_mask"], packed[1])
    np.testing.assert_array_equal(outputs["mask_and_score/truncated"], packed[2])
    weights = np.asarray(batch["mask_weights"])
    assert weights[0].sum() == P and weights[1].sum() == 0  # "" has no target
    spans = {k: np.asarray(batch[k]) for k in ("mask_positions", "span_boundaries", "span_offsets")}
    mlm, sbo = keras_heads(model, np.asarray(batch["token_ids"]), packed[1], spans)
    assert_top_k(outputs, "mask_and_score", "mlm", mlm, vocab, weights)
    assert_top_k(outputs, "mask_and_score", "sbo", sbo, vocab, weights)
    labels = np.asarray(batch["mask_ids"])
    losses = {}
    for head, log_probs, key in (("mlm", mlm, "mask_weights"), ("sbo", sbo, "sbo_weights")):
        w = np.asarray(batch[key])
        ce = -np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
        losses[head] = (ce * w).sum(1) / np.maximum(w.sum(1), 1)
    losses["loss"] = losses["mlm"] + model.sbo_weight * losses["sbo"]
    for head, key in (("mlm", "mlm_loss"), ("sbo", "sbo_loss"), ("loss", "loss")):
        diff = np.abs(outputs[f"mask_and_score/{key}"] - losses[head]).max()
        print(f"mask_and_score {key} max |diff| = {diff:.2e}")
        assert diff <= TOL, (key, diff)


def test_portable_saved_model_loads_with_tensorflow_only(exported, tmp_path):
    model, vocab = exported["model"], exported["vocabulary"]
    ids, mask = encode_inputs(vocab)
    masked = ids.copy()
    masked[0, 3:5] = vocab.mask_id  # a two-token span
    masked[1, 8] = vocab.mask_id  # the last real token: right boundary is [PAD]
    inputs = {
        "serving_default/token_ids": ids,
        "serving_default/padding_mask": mask,
        "encode/token_ids": ids,
        "encode/padding_mask": mask,
        "fill_spans_ids/token_ids": masked,
        "fill_spans_ids/padding_mask": mask,
    }
    report, outputs = run_loader("portable", exported["ids_dir"], inputs, tmp_path)
    assert report["signatures"] == ["encode", "fill_spans_ids", "serving_default"]
    assert report["imported"] == {
        "spanbert_keras": False,
        "keras_hub": False,
        "tensorflow_text": False,
    }
    truncated = np.array([True, False, False])
    for prefix in ("serving_default", "encode"):
        assert_encoded(outputs, prefix, model, ids[:, :L], mask[:, :L], truncated)
    assert_filled(
        outputs, "fill_spans_ids", model, vocab, masked[:, :L], mask[:, :L], truncated
    )
    # The span at the end of row 1 has no real right boundary: no SBO target.
    assert outputs["fill_spans_ids/sbo_weights"][1].tolist() == [0.0, 0.0]


def _expected_signatures(kind):
    def t(dtype, *shape):
        return {"dtype": dtype, "shape": list(shape)}

    encoded = {
        "sequence_output": t("float32", -1, -1, H),
        "pooled_output": t("float32", -1, H),
        "token_ids": t("int32", -1, -1),
        "padding_mask": t("int32", -1, -1),
        "truncated": t("bool", -1),
    }
    ids_in = {"token_ids": t("int32", -1, -1), "padding_mask": t("int32", -1, -1)}
    text_in = {"text": t("string", -1)}

    def filled(length, slots):
        out = {
            "token_ids": t("int32", -1, length),
            "padding_mask": t("int32", -1, length),
            "truncated": t("bool", -1),
            "mask_positions": t("int32", -1, slots),
            "mask_weights": t("float32", -1, slots),
            "span_boundaries": t("int32", -1, slots, 2),
            "span_offsets": t("int32", -1, slots),
            "sbo_weights": t("float32", -1, slots),
        }
        for head in ("mlm", "sbo"):
            out[f"{head}_top_ids"] = t("int32", -1, slots, K)
            out[f"{head}_top_tokens"] = t("string", -1, slots, K)
            out[f"{head}_top_log_probs"] = t("float32", -1, slots, K)
        return out

    if kind == "ids":
        return {
            "serving_default": {"inputs": ids_in, "outputs": encoded},
            "encode": {"inputs": ids_in, "outputs": encoded},
            "fill_spans_ids": {"inputs": ids_in, "outputs": filled(-1, -1)},
        }
    served = dict(encoded, token_ids=t("int32", -1, L), padding_mask=t("int32", -1, L))
    served["sequence_output"] = t("float32", -1, L, H)
    scored = filled(L, P)
    scored.update(
        mask_ids=t("int32", -1, P),
        mlm_loss=t("float32", -1),
        sbo_loss=t("float32", -1),
        loss=t("float32", -1),
    )
    return {
        "serving_default": {"inputs": text_in, "outputs": served},
        "encode": {"inputs": ids_in, "outputs": encoded},
        "fill_spans": {"inputs": text_in, "outputs": filled(L, -1)},
        "mask_and_score": {"inputs": text_in, "outputs": scored},
    }


_CLI_DTYPES = {"DT_FLOAT": "float32", "DT_INT32": "int32", "DT_BOOL": "bool", "DT_STRING": "string"}


def _parse_cli(text):
    """`saved_model_cli show --all` -> {signature: {inputs/outputs: {name: {dtype, shape}}}}."""
    signatures = {}
    for block in re.split(r"\nsignature_def\['", text)[1:]:
        name = block.split("'", 1)[0]
        if name.startswith("__"):
            continue
        entry = {"inputs": {}, "outputs": {}}
        for side, key, dtype, shape in re.findall(
            r"(inputs|outputs)\['([^']+)'\] tensor_info:\s+dtype: (\w+)\s+shape: \(([^)]*)\)",
            block,
        ):
            dims = [int(d) for d in shape.replace(" ", "").split(",") if d]
            entry[side][key] = {"dtype": _CLI_DTYPES[dtype], "shape": dims}
        signatures[name] = entry
    return signatures


@pytest.mark.parametrize("kind", ["text", "ids"])
def test_saved_model_cli_lists_the_documented_signatures(exported, kind):
    model_dir = exported["text_dir"] if kind == "text" else exported["ids_dir"]
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run(
        [cli, "show", "--all", "--dir", model_dir],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    listed = _parse_cli(result.stdout)
    assert listed == _expected_signatures(kind)
    # export_info.json records the same signatures.
    info = read_export_info(model_dir)
    assert {k: {s: v[s] for s in ("inputs", "outputs")} for k, v in info["signatures"].items()} == listed


@pytest.fixture(scope="module")
def reloaded(exported):
    """The moved text SavedModel, loaded in this process."""
    return tf.saved_model.load(exported["text_dir"])


def test_vocabulary_travels_in_assets(exported, reloaded):
    vocab = exported["vocabulary"]
    assert not os.path.exists(exported["vocab_dir"])  # the original file is gone
    assert not os.path.exists(exported["build_root"] + "/saved_models")  # moved
    for model_dir in (exported["text_dir"], exported["ids_dir"]):
        assert os.listdir(os.path.join(model_dir, "assets")) == ["vocab.txt"]
        with open(os.path.join(model_dir, "assets", "vocab.txt"), encoding="utf-8") as f:
            assert f.read().splitlines() == vocab.tokens
    # Reloaded from the moved directory (here, in-process), the id -> token
    # table reads the copy in assets/.
    out = reloaded.signatures["fill_spans"](text=tf.constant(["[MASK] was [MASK] ."]))
    ids = out["mlm_top_ids"].numpy()
    tokens = decode(out["mlm_top_tokens"].numpy())
    assert tokens.shape == (1, 2, K)
    assert tokens.tolist() == np.array(vocab.tokens)[ids].tolist()


def test_empty_batches_and_batches_without_masks(reloaded):
    signatures = reloaded.signatures
    empty = tf.constant([], tf.string)
    out = signatures["serving_default"](text=empty)
    assert out["sequence_output"].shape == (0, L, H) and out["truncated"].shape == (0,)
    out = signatures["fill_spans"](text=empty)
    assert out["mlm_top_tokens"].shape[0] == 0
    out = signatures["mask_and_score"](text=empty)
    assert out["loss"].shape == (0,) and out["mask_ids"].shape == (0, P)
    out = signatures["fill_spans"](text=tf.constant(["no mask here", ""]))
    assert out["mask_positions"].shape == (2, 0)
    assert out["sbo_top_log_probs"].shape == (2, 0, K)
    out = signatures["mask_and_score"](text=tf.constant(["", ""]))
    assert out["mask_weights"].numpy().sum() == 0
    assert out["loss"].numpy().tolist() == [0.0, 0.0]  # no target, no loss
    out = signatures["encode"](
        token_ids=tf.zeros([0, 4], tf.int32), padding_mask=tf.zeros([0, 4], tf.int32)
    )
    assert out["pooled_output"].shape == (0, H)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least one position"):
        signatures["encode"](token_ids=tf.zeros([2, 0], tf.int32), padding_mask=tf.zeros([2, 0], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="same shape"):
        signatures["encode"](token_ids=tf.zeros([2, 4], tf.int32), padding_mask=tf.zeros([2, 3], tf.int32))
    ones = tf.ones([1, 3], tf.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="token_ids must be >= 0"):
        signatures["encode"](token_ids=tf.constant([[2, -1, 3]]), padding_mask=ones)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"token_ids must be below the vocabulary size \(1000\)"):
        signatures["encode"](token_ids=tf.constant([[2, 10**6, 3]]), padding_mask=ones)


def test_export_info_lists_the_ops_and_the_oldest_tf_serving(exported):
    text = read_export_info(exported["text_dir"])
    portable = read_export_info(exported["ids_dir"])
    ops, _ = saved_model_signatures(exported["text_dir"])
    assert text["tensorflow_text_ops"] == ["FastBertNormalize", "FastWordpieceTokenizeWithOffsets"]
    assert set(text["tensorflow_text_ops"]) <= set(ops)
    assert "TFText>RoundRobinTrim" not in ops  # packing uses core ops only
    assert text["min_tf_serving_version"] == "2.12.0"
    assert portable["tensorflow_text_ops"] == [] and portable["other_custom_ops"] == []
    assert portable["min_tf_serving_version"].startswith("any")
    for info in (text, portable):
        assert tuple(info) == DESCRIPTION_FIELDS + GRAPH_FIELDS  # the one schema
        assert info["task"] == "pretraining" and info["model"]["class"] == "SpanBertPretrainer"
        assert info["vocabulary_size"] == exported["vocabulary"].size
        assert info["sequence_length"] == L and info["settings"]["top_k"] == K
        assert info["training"]["data"]["seed"] == SEED
        assert info["training"]["model"]["hidden_dim"] == info["model"]["hidden_dim"] == H
        assert info["special_token_ids"]["[MASK]"] == exported["vocabulary"].mask_id
    masker = text["settings"]["masker"]
    assert masker["seed"] == SEED and masker["max_pair_targets"] == PAIR
    assert portable["settings"]["masker"] is None  # no mask_and_score in the ids model
    assert (text["inputs"], text["portable"], portable["inputs"], portable["portable"]) == (
        "text", False, "ids", True)
    assert (text["companion"], portable["companion"]) == ("../../tiny-ids/1", "../../tiny/1")
    assert (text["name"], text["version"], portable["name"]) == ("tiny", 1, "tiny-ids")
    assert exported["paths"]["export_info"] == text


def test_version_directories_are_refused_or_replaced(exported):
    model, vocab = exported["model"], exported["vocabulary"]
    base = exported["root"] / "versions" / "saved_models"
    os.makedirs(base / "m" / "1")
    with pytest.raises(FileExistsError, match="already exists.*overwrite"):
        export_saved_model(model, vocab, str(base / "m" / "1"))
    # Only the portable model's version exists: refused too.
    os.rmdir(base / "m" / "1")
    os.makedirs(base / "m-ids" / "1")
    stamp = base / "m-ids" / "1" / "stale"
    stamp.touch()
    with pytest.raises(FileExistsError, match="m-ids"):
        export_saved_model(model, vocab, str(base / "m" / "1"))
    export_saved_model(model, vocab, str(base / "m" / "1"), sequence_length=12, overwrite=True)
    assert not os.path.exists(stamp)
    assert read_export_info(base / "m" / "1")["sequence_length"] == 12
    assert sorted(os.listdir(base / "m")) == ["1"]  # no staging leftovers
    assert sorted(os.listdir(base / "m-ids")) == ["1"]


def test_bad_arguments_give_clear_errors(exported, tmp_path):
    model, vocab = exported["model"], exported["vocabulary"]
    with pytest.raises(ValueError, match="integer version"):
        export_saved_model(model, vocab, str(tmp_path / "saved_models" / "m" / "latest"))
    with pytest.raises(ValueError, match="reserved"):
        export_saved_model(model, vocab, str(tmp_path / "saved_models" / "m-ids" / "1"))
    with pytest.raises(FileNotFoundError, match="Vocabulary file not found"):
        export_saved_model(model, str(tmp_path / "missing" / "vocab.txt"), str(tmp_path / "m" / "1"))
    with pytest.raises(ValueError, match="wordpieces but the model"):
        export_saved_model(model, vocab.tokens[:-1], str(tmp_path / "m" / "1"))
    with pytest.raises(ValueError, match="sequence_length"):
        export_saved_model(model, vocab, str(tmp_path / "m" / "1"), sequence_length=33)
    with pytest.raises(TypeError, match="SpanBertPretrainer"):
        export_saved_model(model.backbone, vocab, str(tmp_path / "m" / "1"))
    with pytest.raises(FileNotFoundError, match="export_info.json"):
        read_export_info(tmp_path)
    assert not os.path.exists(tmp_path / "m")


def test_in_graph_helpers_on_edge_cases():
    # An empty batch and a batch without any [MASK].
    empty = tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32), tf.zeros([0], tf.int64))
    token_ids, padding_mask, truncated = pack_ids(empty, 6, 2, 3, 0)
    assert token_ids.shape == (0, 6) and truncated.shape == (0,)
    spans = span_targets(tf.equal(token_ids, 4), padding_mask, 2)
    assert spans["mask_positions"].shape == (0, 1)  # one empty slot
    spans = span_targets(tf.equal([[2, 5, 3]], 4), [[1, 1, 1]], 2)
    assert spans["span_boundaries"].shape == (1, 0, 2)
    # A run at position 0 (no [CLS]) and a run longer than the SBO table.
    ids = np.array([[4, 4, 5, 4, 4, 4, 6, 0]], "int32")
    mask = np.array([[1, 1, 1, 1, 1, 1, 1, 0]], "int32")
    spans = span_targets(ids == 4, mask, 2)
    expected = mask_runs(ids, mask, 4, max_pair_targets=2)
    for key, value in expected.items():
        np.testing.assert_array_equal(spans[key].numpy(), value, err_msg=key)
    assert spans["sbo_weights"].numpy().tolist() == [[0, 0, 1, 1, 0]]
