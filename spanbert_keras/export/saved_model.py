"""SavedModel export for TF Serving: raw text in, and a portable ids-only twin.

`export_saved_model(model, vocabulary, "saved_models/NAME/VERSION")` writes two
SavedModels laid out as TF Serving's model server watches them:

- `saved_models/NAME/VERSION/`: tokenisation in the graph (tensorflow-text's
  `FastBertTokenizer`), the vocabulary file in `assets/`. Signatures:

  | signature | inputs | outputs |
  |---|---|---|
  | `serving_default` | `text` string [B] | `sequence_output` float32 [B, L, H], `pooled_output` float32 [B, H], `token_ids` int32 [B, L], `padding_mask` int32 [B, L], `truncated` bool [B] |
  | `encode` | `token_ids`, `padding_mask` int32 [B, T] | the same five outputs (`T` is cut to `L`) |
  | `fill_spans` | `text` string [B] with `[MASK]` runs | see below |
  | `mask_and_score` | `text` string [B] | (with `include_masker=True`) see below |

  `fill_spans` outputs, for the M masked positions of each row (M = the most
  [MASK]s of a row in the batch; shorter rows are padded with weight 0):
  `mask_positions` int32 [B, M], `mask_weights` float32 [B, M],
  `span_boundaries` int32 [B, M, 2] (s-1 and e+1 of the [MASK] run holding the
  position: a run of k [MASK]s is one span), `span_offsets` int32 [B, M]
  (i - s), `sbo_weights` float32 [B, M] (1 where the offset is inside the SBO
  position table), `{mlm,sbo}_top_ids` int32 [B, M, k],
  `{mlm,sbo}_top_tokens` string [B, M, k], `{mlm,sbo}_top_log_probs` float32
  [B, M, k] (log-softmax scores of the MLM head and of the span boundary
  head), and `token_ids`, `padding_mask`, `truncated` as above.

  `mask_and_score` masks each text with the training `SpanMasker` (static
  masking: the masks depend only on the text and the masker's seed) and
  returns the masked `token_ids`, `padding_mask`, `truncated`, the target
  slots (`mask_positions`, `mask_ids`, `mask_weights`, `span_boundaries`,
  `span_offsets`, `sbo_weights`, P = ceil(mask_rate * (L - 2)) slots), the
  top-k predictions of both heads at every slot, and per-text losses
  `mlm_loss`, `sbo_loss`, `loss` float32 [B] (mean cross entropy over the
  text's targets; `loss = mlm_loss + sbo_weight * sbo_loss`).

- `saved_models/NAME-ids/VERSION/`: the portable twin, **no tensorflow-text
  op at all**, so a stock TF Serving build and a plain `import tensorflow`
  load it. `serving_default` and `encode` are the `encode` above;
  `fill_spans_ids` takes `token_ids`, `padding_mask` holding [MASK] ids and
  returns `fill_spans`' outputs. Its `assets/` holds the vocabulary too, for
  the client that tokenises.

Text is packed as `[CLS] wordpieces [SEP] [PAD]...` of exactly `L =
max_seq_length` ids with core TensorFlow ops only (no `RoundRobinTrimmer`,
whose op TF Serving only has from 2.20). A text longer than `L - 2`
wordpieces is cut and its `truncated` flag set; an empty text gives
`[CLS] [SEP]` and no error.

A SavedModel holding any tensorflow-text op cannot be loaded at all where the
op is not registered: import `tensorflow_text` before `tf.saved_model.load`,
and serve the text model with a TF Serving release that links its ops.
`export_info.json` in each version directory lists the ops (read from the
saved graph) and the oldest such release, with the config, the vocabulary
size and every signature's input / output names, dtypes and shapes.

Serving with TF Serving (REST on port 8501):

    docker run -p 8501:8501 \\
      -v "$PWD/saved_models/NAME:/models/NAME" -e MODEL_NAME=NAME \\
      tensorflow/serving:2.19.1
    curl -d '{"signature_name": "fill_spans",
              "instances": ["She was [MASK] [MASK] of the two daughters."]}' \\
      http://localhost:8501/v1/models/NAME:predict

(`serving_default` takes the same body without `signature_name`; the
`NAME-ids` model takes `{"instances": [{"token_ids": [...],
"padding_mask": [...]}]}`.) Loading in Python without this package:

    import tensorflow as tf
    import tensorflow_text  # registers the tokeniser ops; not needed for NAME-ids
    served = tf.saved_model.load("saved_models/NAME/1")
    served.signatures["fill_spans"](text=tf.constant(["It is a [MASK] ."]))
"""

import dataclasses
import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from spanbert_keras.config import MaskingConfig
from spanbert_keras.data.span_masker import TARGET_KEYS
from spanbert_keras.data.span_masker import SpanMasker
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.data.vocabulary import load_vocabulary

VOCAB_ASSET = "vocab.txt"
INFO_FILE = "export_info.json"
PORTABLE_SUFFIX = "-ids"

# The oldest TF Serving release whose model server links each tensorflow-text
# op (from the tf-text archive each TF Serving release pins; 2.8 is the
# oldest release checked). Ops not listed here need a custom server build.
TF_SERVING_RELEASE_FOR_OP = {
    "CaseFoldUTF8": "2.8.0",
    "NormalizeUTF8": "2.8.0",
    "RegexSplitWithOffsets": "2.8.0",
    "WordpieceTokenizeWithOffsets": "2.8.0",
    "FastWordpieceTokenizeWithOffsets": "2.10.0",
    "FastBertNormalize": "2.12.0",
    "TFText>RoundRobinTrim": "2.20.0",
}

_DESCRIPTIONS = {
    "serving_default": "strings -> in-graph WordPiece, [CLS]/[SEP]/truncate/pad to "
    "max_seq_length -> encoder outputs",
    "encode": "int32 token_ids / padding_mask -> encoder outputs (cut to max_seq_length)",
    "fill_spans": "strings with [MASK] runs (a run = one span) -> top-k tokens, ids "
    "and log-probabilities of the MLM and SBO heads at each [MASK]",
    "fill_spans_ids": "token_ids / padding_mask with [MASK] ids -> fill_spans' outputs",
    "mask_and_score": "strings -> SpanBERT span masking -> predictions and per-text "
    "MLM / SBO losses",
}


def export_saved_model(
    model,
    vocabulary,
    export_dir,
    max_seq_length=None,
    include_masker=False,
    masking_config=None,
    config=None,
    overwrite=False,
    top_k=5,
):
    """Writes the text SavedModel and its portable ids-only twin.

    Args:
        model: a `SpanBertPretrainer` (its `backbone`, `mlm_head` and
            `sbo_head` are exported; any dtype policy, outputs are float32).
        vocabulary: the model's `Vocabulary`, list of wordpieces or
            `vocab.txt` path.
        export_dir: `.../saved_models/NAME/VERSION`, VERSION an integer. The
            twin goes to `.../saved_models/NAME-ids/VERSION`.
        max_seq_length: int, `L`, the packed length of text inputs (and the
            cut of `encode`). Default: `config.data.max_seq_length` if a
            config is given, else the encoder's position table.
        include_masker: bool, add the `mask_and_score` signature.
        masking_config: a `MaskingConfig` for `mask_and_score` (default:
            `config.masking`, else SpanBERT's defaults).
        config: optional `PretrainConfig` (or dict), recorded in
            `export_info.json`.
        overwrite: bool, replace an existing VERSION (of either model).
        top_k: int, predictions returned per masked position.

    Returns:
        A dict: `saved_model` and `portable_saved_model` (the two version
        directories), `export_info` (the text model's `export_info.json`
        content).

    Raises:
        FileExistsError: the version exists and `overwrite` is False.
        ValueError: VERSION is not an integer, `max_seq_length` does not fit
            the model, the vocabulary does not match the model, ...
        FileNotFoundError: `vocabulary` is a path that does not exist.

    Example:

    >>> import tempfile, os
    >>> from spanbert_keras.config import ModelConfig
    >>> from spanbert_keras.export import export_saved_model
    >>> from spanbert_keras.training.build import build_pretrainer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]
    >>> model = build_pretrainer(ModelConfig(num_layers=1, hidden_dim=16,
    ...     num_heads=2, intermediate_dim=32, max_sequence_length=16), len(vocab))
    >>> root = tempfile.mkdtemp()
    >>> paths = export_saved_model(model, vocab,
    ...                            os.path.join(root, "saved_models", "cat", "1"))
    >>> sorted(os.listdir(os.path.join(root, "saved_models")))
    ['cat', 'cat-ids']
    """
    check_model(model)
    vocabulary = load_vocabulary(vocabulary)
    backbone = model.backbone
    if vocabulary.size != backbone.vocabulary_size:
        raise ValueError(
            f"The vocabulary has {vocabulary.size} wordpieces but the model was built "
            f"for {backbone.vocabulary_size}; export the model with its own vocabulary."
        )
    length = _resolve_length(max_seq_length, config, backbone.max_sequence_length)
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"`top_k` must be a positive int. Received: top_k={top_k!r}")
    version_dir, portable_dir = _version_dirs(export_dir)
    for path in (version_dir, portable_dir):
        if os.path.lexists(path) and not overwrite:
            raise FileExistsError(
                f"{path} already exists; choose another version number or pass "
                "overwrite=True (--overwrite) to replace it."
            )
        if os.path.lexists(path) and not os.path.isdir(path):
            raise FileExistsError(f"{path} exists and is not a directory.")
    masker = None
    if include_masker:
        masker = _build_masker(vocabulary, masking_config, config, model)

    vocab_dir = tempfile.mkdtemp(prefix="spanbert-vocab-")
    staged = []
    try:
        vocab_file = vocabulary.save(os.path.join(vocab_dir, VOCAB_ASSET))
        serving = _ServingFunctions(
            model, vocabulary, length, int(top_k), vocab_file, masker=masker
        )
        common = dict(
            model=model,
            vocabulary=vocabulary,
            length=length,
            top_k=serving.top_k,
            config=config,
            masker=masker,
        )
        text_stage = _stage_dir(version_dir)
        staged.append(text_stage)
        functions = _signature_functions(serving)
        _write_archive(serving, functions, text_stage, text=True)
        info = _write_info(text_stage, kind="text", version_dir=version_dir, **common)
        portable_stage = _stage_dir(portable_dir)
        staged.append(portable_stage)
        _write_archive(serving, functions, portable_stage, text=False)
        portable_info = _write_info(
            portable_stage, kind="ids", version_dir=portable_dir, **common
        )
        if portable_info["tensorflow_text_ops"] or portable_info["other_custom_ops"]:
            raise RuntimeError(
                "The portable SavedModel holds non-core ops "
                f"{portable_info['tensorflow_text_ops'] + portable_info['other_custom_ops']}; "
                "this is a bug in the exporter."
            )
        # Both written: move them into place (a half-written version is never
        # visible to a model server; staging names are not integers).
        for stage, final in ((text_stage, version_dir), (portable_stage, portable_dir)):
            if os.path.lexists(final):
                shutil.rmtree(final)
            os.replace(stage, final)
        staged = []
    finally:
        shutil.rmtree(vocab_dir, ignore_errors=True)
        for stage in staged:
            shutil.rmtree(stage, ignore_errors=True)
    return {
        "saved_model": version_dir,
        "portable_saved_model": portable_dir,
        "export_info": info,
    }


def read_export_info(export_dir):
    """Reads `export_info.json` of an exported version directory."""
    path = os.path.join(os.fspath(export_dir), INFO_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No {INFO_FILE} in {export_dir}; is it a version directory written "
            "by export_saved_model?"
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------- in-graph ops


def pack_text_ids(token_ids, length, cls_id, sep_id, pad_id):
    """`[CLS] ids [SEP] [PAD]...` of exactly `length` ids, with core ops only.

    Args:
        token_ids: int32 `tf.RaggedTensor` [B, (T)], wordpieces without
            special tokens.
        length: int, the packed length (>= 3).

    Returns:
        `token_ids` int32 [B, length], `padding_mask` int32 [B, length] (1 on
        real tokens), `truncated` bool [B] (the row had more than `length - 2`
        wordpieces and was cut).
    """
    capacity = length - 2
    truncated = token_ids.row_lengths() > capacity
    body = token_ids[:, :capacity]
    ends = tf.ones([body.nrows(), 1], tf.int32)
    packed = tf.concat(
        [
            tf.RaggedTensor.from_tensor(ends * cls_id),
            body,
            tf.RaggedTensor.from_tensor(ends * sep_id),
        ],
        axis=1,
    )
    padded = packed.to_tensor(default_value=pad_id, shape=[None, length])
    padding_mask = tf.sequence_mask(packed.row_lengths(), length, dtype=tf.int32)
    return padded, padding_mask, truncated


def spans_from_mask_runs(token_ids, padding_mask, mask_id, max_pair_targets):
    """Target slots and SBO boundaries of the [MASK] runs of packed ids.

    Every real position holding `mask_id` is a target; each maximal run of
    them is one span `s..e`, whose boundaries are the positions `s - 1` and
    `e + 1` (clipped into the row, so [CLS] and [SEP] serve as boundaries at
    the edges) and whose targets have offsets `i - s`.

    Args:
        token_ids: int32 [B, L].
        padding_mask: int or bool [B, L], nonzero on real tokens.
        mask_id: int, the [MASK] id.
        max_pair_targets: int, rows of the SBO position table.

    Returns:
        A dict, M = the most targets of a row in the batch (1 for an empty
        batch): `mask_positions`
        int32 [B, M] (ascending, padded with 0), `mask_weights` float32
        [B, M], `span_boundaries` int32 [B, M, 2], `span_offsets` int32
        [B, M], `sbo_weights` float32 [B, M] (1 where the offset is below
        `max_pair_targets` and both boundaries are real tokens).
    """
    token_ids = tf.convert_to_tensor(token_ids, tf.int32)
    real = tf.not_equal(tf.cast(padding_mask, tf.int32), 0)
    length = tf.shape(token_ids)[1]
    is_mask = tf.equal(token_ids, mask_id) & real
    counts = tf.reduce_sum(tf.cast(is_mask, tf.int32), axis=1)
    # An empty batch gets one (empty) slot: keras-hub's MLM head cannot
    # gather zero positions from zero rows.
    slots = tf.reduce_max(tf.concat([counts, [0], tf.cast(tf.equal(tf.shape(counts), 0), tf.int32)], axis=0))
    positions = tf.range(length, dtype=tf.int32)[tf.newaxis, :]
    keys = tf.where(is_mask, length - positions, 0)
    values, indices = tf.math.top_k(keys, k=slots)
    valid = values > 0
    mask_positions = tf.where(valid, indices, 0)

    # left / right: the unmasked positions just outside the run (-1 / L past
    # the edges of the row).
    unmasked_count = tf.cumsum(tf.cast(~is_mask, tf.int32), axis=1)
    left = tf.where(
        unmasked_count > 0,
        tf.searchsorted(unmasked_count, unmasked_count, side="left", out_type=tf.int32),
        -1,
    )
    right = tf.searchsorted(
        unmasked_count, unmasked_count + 1, side="left", out_type=tf.int32
    )
    offsets = positions - left - 1
    clipped_left = tf.clip_by_value(left, 0, length - 1)
    clipped_right = tf.clip_by_value(right, 0, length - 1)
    has_sbo = (
        (offsets < max_pair_targets)
        & (left >= 0)
        & (right < length)
        & tf.gather(real, clipped_left, batch_dims=1)
        & tf.gather(real, clipped_right, batch_dims=1)
    )
    zeros = tf.zeros_like(mask_positions)

    def take(values):
        return tf.where(valid, tf.gather(values, mask_positions, batch_dims=1), zeros)

    return {
        "mask_positions": mask_positions,
        "mask_weights": tf.cast(valid, tf.float32),
        "span_boundaries": tf.stack([take(clipped_left), take(clipped_right)], axis=-1),
        "span_offsets": take(offsets),
        "sbo_weights": tf.cast(
            valid & tf.gather(has_sbo, mask_positions, batch_dims=1), tf.float32
        ),
    }


class _ServingFunctions:
    """The signature functions (plain methods; ExportArchive wraps them)."""

    def __init__(self, model, vocabulary, length, top_k, vocab_file, masker=None):
        self.model = model
        self.vocabulary = vocabulary
        self.length = length
        self.top_k = min(top_k, vocabulary.size)
        self.masker = masker
        self.tokenizer = SpanBertTokenizer(vocabulary)
        # id -> wordpiece for the predictions. A lookup table is a resource
        # ExportArchive keeps, and its initializer's file becomes
        # assets/vocab.txt (a plain Asset would be dropped).
        self.id_to_token = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                vocab_file,
                key_dtype=tf.int64,
                key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
                value_dtype=tf.string,
                value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            ),
            default_value="[UNK]",
        )

    # ----------------------------------------------------------- signatures
    def serve_text(self, text):
        ids = self.tokenizer.tokenize(text)
        return self._encoder_outputs(*self._pack(ids))

    def encode(self, token_ids, padding_mask):
        token_ids, padding_mask, truncated = self._cut(token_ids, padding_mask)
        return self._encoder_outputs(token_ids, padding_mask, truncated)

    def fill_spans(self, text):
        ids = self.tokenizer.tokenize(text, mask_token_in_text=True)
        return self._fill(*self._pack(ids))

    def fill_spans_ids(self, token_ids, padding_mask):
        return self._fill(*self._cut(token_ids, padding_mask))

    def mask_and_score(self, text):
        token_ids, padding_mask, truncated = self._pack(self.tokenizer.tokenize(text))
        batch = self.masker(
            {"token_ids": token_ids, "padding_mask": tf.not_equal(padding_mask, 0)}
        )
        outputs = self.model(
            {
                "token_ids": batch["token_ids"],
                "padding_mask": padding_mask,
                "mask_positions": batch["mask_positions"],
                "span_boundaries": batch["span_boundaries"],
                "span_offsets": batch["span_offsets"],
            },
            training=False,
        )
        result = {
            "token_ids": batch["token_ids"],
            "padding_mask": padding_mask,
            "truncated": truncated,
        }
        for key in TARGET_KEYS:
            result[key] = batch[key]
        mlm_loss = _mean_cross_entropy(
            outputs["mlm_logits"], batch["mask_ids"], batch["mask_weights"]
        )
        sbo_loss = _mean_cross_entropy(
            outputs["sbo_logits"], batch["mask_ids"], batch["sbo_weights"]
        )
        result.update(self._top("mlm", outputs["mlm_logits"]))
        result.update(self._top("sbo", outputs["sbo_logits"]))
        result["mlm_loss"] = mlm_loss
        result["sbo_loss"] = sbo_loss
        result["loss"] = mlm_loss + self.model.sbo_weight * sbo_loss
        return result

    # -------------------------------------------------------------- helpers
    def _pack(self, ids):
        vocab = self.vocabulary
        return pack_text_ids(ids, self.length, vocab.cls_id, vocab.sep_id, vocab.pad_id)

    def _cut(self, token_ids, padding_mask):
        """Keeps the first `length` positions; flags rows with real tokens beyond."""
        checks = [
            tf.debugging.assert_equal(
                tf.shape(token_ids),
                tf.shape(padding_mask),
                message="token_ids and padding_mask must have the same shape [B, T]",
            ),
            tf.debugging.assert_positive(
                tf.shape(token_ids)[1],
                message="token_ids must hold at least one position ([CLS] ... [SEP])",
            ),
        ]
        with tf.control_dependencies(checks):
            token_ids = tf.identity(token_ids)
        tail = tf.cast(tf.not_equal(padding_mask[:, self.length :], 0), tf.int32)
        truncated = tf.reduce_sum(tail, axis=1) > 0
        return token_ids[:, : self.length], padding_mask[:, : self.length], truncated

    def _encoder_outputs(self, token_ids, padding_mask, truncated):
        outputs = self.model(
            {"token_ids": token_ids, "padding_mask": padding_mask}, training=False
        )
        return {
            "sequence_output": tf.cast(outputs["sequence_output"], tf.float32),
            "pooled_output": tf.cast(outputs["pooled_output"], tf.float32),
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "truncated": truncated,
        }

    def _fill(self, token_ids, padding_mask, truncated):
        spans = spans_from_mask_runs(
            token_ids, padding_mask, self.vocabulary.mask_id, self.model.max_pair_targets
        )
        outputs = self.model(
            {
                "token_ids": token_ids,
                "padding_mask": padding_mask,
                "mask_positions": spans["mask_positions"],
                "span_boundaries": spans["span_boundaries"],
                "span_offsets": spans["span_offsets"],
            },
            training=False,
        )
        result = {"token_ids": token_ids, "padding_mask": padding_mask, "truncated": truncated}
        result.update(spans)
        result.update(self._top("mlm", outputs["mlm_logits"]))
        result.update(self._top("sbo", outputs["sbo_logits"]))
        return result

    def _top(self, head, logits):
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        values, ids = tf.math.top_k(log_probs, k=self.top_k)
        return {
            f"{head}_top_ids": ids,
            f"{head}_top_tokens": self.id_to_token.lookup(tf.cast(ids, tf.int64)),
            f"{head}_top_log_probs": values,
        }


def _mean_cross_entropy(logits, labels, weights):
    """Per-row weighted mean cross entropy, float32 [B] (0 for a row without targets)."""
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32)
    )
    weights = tf.cast(weights, tf.float32)
    return tf.reduce_sum(ce * weights, axis=1) / tf.maximum(
        tf.reduce_sum(weights, axis=1), 1.0
    )


# -------------------------------------------------------------------- writing


def _signature_functions(serving):
    """The traced `tf.function`s, shared by both SavedModels (traced once)."""
    ids_spec = [
        tf.TensorSpec([None, None], tf.int32, name="token_ids"),
        tf.TensorSpec([None, None], tf.int32, name="padding_mask"),
    ]
    text_spec = [tf.TensorSpec([None], tf.string, name="text")]
    methods = {
        "serve_text": (serving.serve_text, text_spec),
        "encode": (serving.encode, ids_spec),
        "fill_spans": (serving.fill_spans, text_spec),
        "fill_spans_ids": (serving.fill_spans_ids, ids_spec),
    }
    if serving.masker is not None:
        methods["mask_and_score"] = (serving.mask_and_score, text_spec)
    functions = {}
    for name, (method, spec) in methods.items():
        function = tf.function(method, input_signature=spec, autograph=False)
        function.get_concrete_function()
        functions[name] = function
    return functions


def _write_archive(serving, functions, path, text):
    import keras

    archive = keras.export.ExportArchive()
    model = serving.model
    for layer in (model.backbone, model.mlm_head, model.sbo_head):
        archive.track(layer)
    archive.track(serving.id_to_token)
    if text:
        archive.track(serving.tokenizer)
        endpoints = [
            ("serving_default", "serve_text"),
            ("encode", "encode"),
            ("fill_spans", "fill_spans"),
            ("mask_and_score", "mask_and_score"),
        ]
    else:
        endpoints = [
            ("serving_default", "encode"),
            ("encode", "encode"),
            ("fill_spans_ids", "fill_spans_ids"),
        ]
    for name, function in endpoints:
        if function in functions:
            archive.add_endpoint(name, functions[function])
    archive.write_out(path, verbose=False)


def _write_info(path, kind, model, vocabulary, length, top_k, config, masker, version_dir):
    import keras

    ops, signatures = saved_model_signatures(path)
    text_ops, other_ops = _classify_custom_ops(ops)
    releases = [TF_SERVING_RELEASE_FOR_OP.get(op) for op in text_ops]
    if not text_ops and not other_ops:
        min_serving = "any (no tensorflow-text or other custom op)"
    elif other_ops or None in releases:
        min_serving = "none: needs a model server built with these ops"
    else:
        min_serving = max(releases, key=lambda v: tuple(int(p) for p in v.split(".")))
    backbone = model.backbone
    name = os.path.basename(os.path.dirname(version_dir))
    info = {
        "format": "tf_saved_model",
        "kind": kind,
        "name": name,
        "version": int(os.path.basename(version_dir)),
        "portable": kind == "ids",
        "load": (
            "import tensorflow as tf; tf.saved_model.load(path)"
            if kind == "ids"
            else "import tensorflow as tf, tensorflow_text; tf.saved_model.load(path)"
        ),
        "max_seq_length": length,
        "top_k": top_k,
        "vocabulary_size": vocabulary.size,
        "vocabulary_file": f"assets/{VOCAB_ASSET}",
        "special_token_ids": {
            "[PAD]": vocabulary.pad_id,
            "[UNK]": vocabulary.unk_id,
            "[CLS]": vocabulary.cls_id,
            "[SEP]": vocabulary.sep_id,
            "[MASK]": vocabulary.mask_id,
        },
        "model": {
            "num_layers": backbone.num_layers,
            "hidden_dim": backbone.hidden_dim,
            "num_heads": backbone.num_heads,
            "intermediate_dim": backbone.intermediate_dim,
            "max_sequence_length": backbone.max_sequence_length,
            "max_pair_targets": model.max_pair_targets,
            "sbo_weight": model.sbo_weight,
            "dtype_policy": model.dtype_policy.name,
        },
        "masker": None if masker is None else _masker_info(masker),
        "config": _config_dict(config),
        "signatures": {
            name: dict(description=_DESCRIPTIONS.get(name, ""), **signature)
            for name, signature in signatures.items()
        },
        "tensorflow_text_ops": text_ops,
        "other_custom_ops": other_ops,
        "min_tf_serving_version": min_serving,
        "tf_serving_release_for_op": {op: TF_SERVING_RELEASE_FOR_OP.get(op) for op in text_ops},
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "tensorflow_text": _tensorflow_text_version(),
        },
    }
    if kind == "ids":
        info["companion"] = "text model: ../../" + name[: -len(PORTABLE_SUFFIX)]
    else:
        info["companion"] = f"portable twin: ../../{name}{PORTABLE_SUFFIX}"
    with open(os.path.join(path, INFO_FILE), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    return info


def saved_model_signatures(export_dir):
    """Op types and signatures of a SavedModel, read from its `saved_model.pb`.

    Returns:
        (sorted list of every op type in the graph and its functions,
        dict signature name -> {"inputs": {name: {"dtype", "shape"}},
        "outputs": {...}}); shapes use -1 for unknown sizes.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(os.fspath(export_dir), "saved_model.pb")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No saved_model.pb in {export_dir}.")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    ops = set()
    signatures = {}
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        ops.update(node.op for node in graph.node)
        for function in graph.library.function:
            ops.update(node.op for node in function.node_def)
        for key, signature in meta_graph.signature_def.items():
            if key.startswith("__"):  # __saved_model_init_op
                continue
            signatures[key] = {
                "inputs": {k: _tensor_info(v) for k, v in sorted(signature.inputs.items())},
                "outputs": {k: _tensor_info(v) for k, v in sorted(signature.outputs.items())},
            }
    return sorted(ops), dict(sorted(signatures.items()))


def _tensor_info(info):
    shape = None
    if not info.tensor_shape.unknown_rank:
        shape = [int(d.size) for d in info.tensor_shape.dim]
    return {"dtype": tf.dtypes.as_dtype(info.dtype).name, "shape": shape}


def _classify_custom_ops(ops):
    """(tensorflow-text ops, other non-core ops) among graph op types."""
    custom = [op for op in ops if not hasattr(tf.raw_ops, op)]
    text_ops = _tensorflow_text_op_names()
    in_text = [op for op in custom if op.replace(">", "_") in text_ops]
    return in_text, [op for op in custom if op not in in_text]


_TEXT_OPS = None


def _tensorflow_text_op_names():
    """Names of the ops tensorflow-text's kernel libraries register."""
    global _TEXT_OPS
    if _TEXT_OPS is None:
        import glob

        import tensorflow_text

        names = set()
        folder = os.path.join(os.path.dirname(tensorflow_text.__file__), "python", "ops")
        for library in sorted(glob.glob(os.path.join(folder, "_*.so"))):
            module = tf.load_op_library(library)
            names.update(a for a in dir(module) if a[:1].isupper())
        _TEXT_OPS = names
    return _TEXT_OPS


def _tensorflow_text_version():
    try:
        import tensorflow_text

        return tensorflow_text.__version__
    except (ImportError, AttributeError):
        return None


def _masker_info(masker):
    return {
        key: value
        for key, value in masker.get_config().items()
        if key not in ("vocabulary", "name", "trainable", "dtype")
    }


def _config_dict(config):
    if config is None:
        return None
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    if isinstance(config, dict):
        return json.loads(json.dumps(config, default=str))
    raise TypeError(
        "`config` must be a PretrainConfig, a dataclass or a dict. "
        f"Received: {type(config).__name__}"
    )


# ------------------------------------------------------------------ checking


def check_model(model):
    """Raises a TypeError unless `model` has a SpanBertPretrainer's parts."""
    missing = [a for a in ("backbone", "mlm_head", "sbo_head") if not hasattr(model, a)]
    if missing:
        raise TypeError(
            "`model` must be a SpanBertPretrainer (with `backbone`, `mlm_head` and "
            f"`sbo_head`); {type(model).__name__} lacks {missing}."
        )


def _resolve_length(max_seq_length, config, positions):
    if max_seq_length is None:
        data = getattr(config, "data", None)
        max_seq_length = getattr(data, "max_seq_length", None) or positions
    if isinstance(max_seq_length, bool) or not isinstance(max_seq_length, (int, np.integer)):
        raise ValueError(
            f"`max_seq_length` must be an int. Received: max_seq_length={max_seq_length!r}"
        )
    if not 3 <= max_seq_length <= positions:
        raise ValueError(
            f"`max_seq_length` must be in [3, {positions}] (the encoder's position "
            f"table). Received: max_seq_length={max_seq_length}"
        )
    return int(max_seq_length)


def _version_dirs(export_dir):
    if export_dir is None or not str(export_dir).strip():
        raise ValueError("`export_dir` must be a path like saved_models/NAME/VERSION.")
    version_dir = os.path.abspath(os.fspath(export_dir))
    version = os.path.basename(version_dir)
    name_dir = os.path.dirname(version_dir)
    name = os.path.basename(name_dir)
    if not version.isdigit():
        raise ValueError(
            "`export_dir` must end in an integer version directory, as TF Serving "
            f"expects (saved_models/NAME/VERSION, e.g. saved_models/{name}/1). "
            f"Received: {export_dir}"
        )
    if not name or name.endswith(PORTABLE_SUFFIX):
        raise ValueError(
            f"The model name (the directory above VERSION) must be non-empty and not "
            f"end in {PORTABLE_SUFFIX!r} (reserved for the portable twin). "
            f"Received: {export_dir}"
        )
    if os.path.exists(name_dir) and not os.path.isdir(name_dir):
        raise NotADirectoryError(f"{name_dir} exists and is not a directory.")
    portable_dir = os.path.join(os.path.dirname(name_dir), name + PORTABLE_SUFFIX, version)
    return version_dir, portable_dir


def _stage_dir(final_dir):
    parent = os.path.dirname(final_dir)
    os.makedirs(parent, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=f".tmp-{os.path.basename(final_dir)}-", dir=parent)
    os.rmdir(stage)  # write_out creates it
    return stage


def _build_masker(vocabulary, masking_config, config, model):
    masking = masking_config or getattr(config, "masking", None)
    if masking is None:
        masking = MaskingConfig(max_pair_targets=model.max_pair_targets)
    if masking.max_pair_targets != model.max_pair_targets:
        raise ValueError(
            f"masking.max_pair_targets={masking.max_pair_targets} differs from the "
            f"model's SBO position table ({model.max_pair_targets})."
        )
    data = getattr(config, "data", None)
    return SpanMasker(
        vocabulary=vocabulary,
        seed=int(getattr(data, "seed", 0) or 0),
        **dataclasses.asdict(masking),
    )
