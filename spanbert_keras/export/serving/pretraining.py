"""The pre-training model's serving signatures: strings in, encodings and span fillings out.

`export_saved_model(pretrainer, vocabulary, "saved_models/NAME/VERSION")`
writes two SavedModels with these signatures:

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

  `mask_and_score` masks each text with the run's
  `SpanBertPretrainingPreprocessor` (the training masker; static masking:
  the masks depend only on the text and the masker's seed) and
  returns the masked `token_ids`, `padding_mask`, `truncated`, the target
  slots (`mask_positions`, `mask_ids`, `mask_weights`, `span_boundaries`,
  `span_offsets`, `sbo_weights`, P = ceil(mask_rate * (L - 2)) slots), the
  top-k predictions of both heads at every slot, and per-text losses
  `mlm_loss`, `sbo_loss`, `loss` float32 [B] (mean cross entropy over the
  text's targets; `loss = mlm_loss + sbo_weight * sbo_loss`).

- `saved_models/NAME-ids/VERSION/`: the portable (ids-only) model, **no tensorflow-text
  op at all**, so a stock TF Serving build and a plain `import tensorflow`
  load it. `serving_default` and `encode` are the `encode` above;
  `fill_spans_ids` takes `token_ids`, `padding_mask` holding [MASK] ids and
  returns `fill_spans`' outputs. Its `assets/` holds the vocabulary too, for
  the client that tokenises.

Text is packed as `[CLS] wordpieces [SEP] [PAD]...` of exactly `L =
sequence_length` ids with core TensorFlow ops only (no `RoundRobinTrimmer`,
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


import keras
import tensorflow as tf

from spanbert_keras.data.pretraining_preprocessor import SpanBertPretrainingPreprocessor
from spanbert_keras.data.pretraining_preprocessor import without_corpus_counts
from spanbert_keras.data.span_masker import TARGET_KEYS
from spanbert_keras.losses import top_k_log_probs
from spanbert_keras.losses import weighted_cross_entropy_terms

DESCRIPTIONS = {
    "serving_default": "strings -> in-graph WordPiece, [CLS]/[SEP]/truncate/pad to "
    "sequence_length -> encoder outputs",
    "encode": "int32 token_ids / padding_mask -> encoder outputs (cut to sequence_length)",
    "fill_spans": "strings with [MASK] runs (a run = one span) -> top-k tokens, ids "
    "and log-probabilities of the MLM and SBO heads at each [MASK]",
    "fill_spans_ids": "token_ids / padding_mask with [MASK] ids -> fill_spans' outputs",
    "mask_and_score": "strings -> SpanBERT span masking -> predictions and per-text "
    "MLM / SBO losses",
}


def check_model(model):
    """Raises a TypeError unless `model` has a SpanBertPretrainer's parts."""
    missing = [a for a in ("backbone", "mlm_head", "sbo_head") if not hasattr(model, a)]
    if missing:
        raise TypeError(
            "`model` must be a SpanBertPretrainer (with `backbone`, `mlm_head` and "
            f"`sbo_head`); {type(model).__name__} lacks {missing}."
        )


def build_preprocessor(vocabulary, length, model, masking_config=None, config=None,
                       replacement_counts=None, include_masker=False):
    """The `SpanBertPretrainingPreprocessor` of the signatures (with `mask_and_score`'s masker).

    The masker is the one saved with the model (`model.preprocessor`: the
    run's masking and corpus counts), unless `masking_config` or
    `replacement_counts` are given; then, or for a model without one, it is
    built from `masking_config` (else `config.masking`), seeded with the
    run's `data.seed` (static masking). With "unigram" random tokens and no
    counts, its random tokens are uniform instead; `export_info.json` records
    the masker's settings either way.
    """
    saved = getattr(model, "preprocessor", None)
    masker = None
    if include_masker and masking_config is None and replacement_counts is None \
            and saved is not None and saved.masker is not None:
        masker = saved.masker
    elif include_masker:
        masking = masking_config or getattr(config, "masking", None)
        if replacement_counts is None:
            masking = without_corpus_counts(masking)
        data = getattr(config, "data", None)
        return SpanBertPretrainingPreprocessor.from_masking_config(
            vocabulary, masking, replacement_counts, sequence_length=length,
            max_pair_targets=model.max_pair_targets, seed=int(getattr(data, "seed", 0) or 0))
    return SpanBertPretrainingPreprocessor(
        vocabulary, sequence_length=length, max_pair_targets=model.max_pair_targets,
        masker=masker)


class PretrainingServing:
    """The signatures of a `SpanBertPretrainer` (plain methods; ExportArchive wraps them).

    Args:
        model: the `SpanBertPretrainer`.
        preprocessor: its `SpanBertPretrainingPreprocessor`: the vocabulary,
            the packed length of text inputs and, when it has a masker,
            `mask_and_score`.
        top_k: int, predictions per masked position.
        vocab_file: path of the vocabulary file, copied into `assets/`.
    """

    def __init__(self, model, preprocessor, top_k, vocab_file):
        self.model = model
        self.preprocessor = preprocessor
        self.vocabulary = preprocessor.vocabulary
        self.length = preprocessor.sequence_length
        self.top_k = min(top_k, self.vocabulary.size)
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
        return self._encoder_outputs(*self._encode(text))

    def encode(self, token_ids, padding_mask):
        token_ids, padding_mask, truncated = self._cut(token_ids, padding_mask)
        return self._encoder_outputs(token_ids, padding_mask, truncated)

    def fill_spans(self, text):
        return self._fill(*self._encode(text, mask_token_in_text=True))

    def fill_spans_ids(self, token_ids, padding_mask):
        return self._fill(*self._cut(token_ids, padding_mask))

    def mask_and_score(self, text):
        batch = self.preprocessor(text)
        padding_mask = tf.cast(batch["padding_mask"], tf.int32)
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
            "truncated": batch["truncated"],
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
    def _encode(self, text, mask_token_in_text=False):
        encoded = self.preprocessor.encode(text, mask_token_in_text=mask_token_in_text)
        return (encoded["token_ids"], tf.cast(encoded["padding_mask"], tf.int32),
                encoded["truncated"])

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
            tf.debugging.assert_non_negative(token_ids, message="token_ids must be >= 0"),
            tf.debugging.assert_less(
                token_ids, tf.constant(self.vocabulary.size, token_ids.dtype),
                message=f"token_ids must be below the vocabulary size ({self.vocabulary.size})",
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
        spans = self.preprocessor.mask_token_targets(token_ids, padding_mask)
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
        values, ids = top_k_log_probs(logits, self.top_k)
        return {
            f"{head}_top_ids": ids,
            f"{head}_top_tokens": self.id_to_token.lookup(tf.cast(ids, tf.int64)),
            f"{head}_top_log_probs": values,
        }

    def functions(self):
        """The traced `tf.function`s, shared by both SavedModels (traced once)."""
        ids_spec = [
            tf.TensorSpec([None, None], tf.int32, name="token_ids"),
            tf.TensorSpec([None, None], tf.int32, name="padding_mask"),
        ]
        text_spec = [tf.TensorSpec([None], tf.string, name="text")]
        methods = {
            "serve_text": (self.serve_text, text_spec),
            "encode": (self.encode, ids_spec),
            "fill_spans": (self.fill_spans, text_spec),
            "fill_spans_ids": (self.fill_spans_ids, ids_spec),
        }
        if self.preprocessor.masker is not None:
            methods["mask_and_score"] = (self.mask_and_score, text_spec)
        functions = {}
        for name, (method, spec) in methods.items():
            function = tf.function(method, input_signature=spec, autograph=False)
            function.get_concrete_function()
            functions[name] = function
        return functions

    def write_archive(self, functions, path, text):
        """Writes the text (`text=True`) or the portable ids-only SavedModel to `path`."""
        archive = keras.export.ExportArchive()
        model = self.model
        for layer in (model.backbone, model.mlm_head, model.sbo_head):
            archive.track(layer)
        archive.track(self.id_to_token)
        if text:
            archive.track(self.preprocessor.tokenizer)
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


def _mean_cross_entropy(logits, labels, weights):
    """Per-row weighted mean cross entropy, float32 [B] (0 for a row without targets)."""
    ce, _, count = weighted_cross_entropy_terms(logits, labels, weights, per_row=True)
    return ce / tf.maximum(count, 1.0)
