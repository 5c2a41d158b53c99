"""TFLite (LiteRT) export of the encoder and of span filling, on token ids.

`export_tflite(model, "saved_models/NAME.tflite")` converts the `encode`
signature with TFLite's built-in ops only (`TFLITE_BUILTINS`: a graph that
would need a Flex / custom op fails at conversion, not on a device), in
float32 or with `quantization="dynamic_range"` (int8 weights, float
activations) or `"float16"` (float16 weights).

**Tokenisation stays outside the .tflite.** The tensorflow-text tokeniser ops
are custom ops that stock Android / iOS LiteRT runtimes do not contain, so
the device (or the app) turns text into ids itself, with the model's
`vocab.txt` (in the SavedModel's `assets/`) and BERT's cased WordPiece rules
(no lower-casing, no accent stripping; e.g. the `tokenizers` package's
`BertWordPieceTokenizer(vocab, lowercase=False, strip_accents=False)`, or
`tensorflow_text.FastBertTokenizer` with `lower_case_nfd_strip_accents=False`),
and packs each text as `[CLS] wordpieces [SEP]`, padded with [PAD] (id in
`export_info.json`), `padding_mask` 1 on real tokens and 0 on padding.

Signatures (int32 inputs of dynamic shape; the interpreter's signature runner
resizes them):

- `encode`: `token_ids`, `padding_mask` [B, T] -> `sequence_output`
  float32 [B, min(T, L), H], `pooled_output` float32 [B, H]. Positions beyond
  `L = sequence_length` are cut off.
- `fill_spans` (`signature="fill_spans"`): `token_ids`, `padding_mask`
  [B, T] (masked positions hold the [MASK] id), `mask_positions` [B, P],
  `span_boundaries` [B, P, 2], `span_offsets` [B, P] -> `mlm_top_ids` int32,
  `mlm_top_log_probs` float32, `sbo_top_ids`, `sbo_top_log_probs` [B, P, k].
  For a run of [MASK]s at positions s..e (one span), each position i in it
  has `mask_positions` i, `span_boundaries` (s - 1, e + 1) and
  `span_offsets` i - s; pad unused slots with zeros and ignore their
  predictions.

Running it with LiteRT (`ai-edge-litert`, not TensorFlow's deprecated
interpreter):

    from ai_edge_litert.interpreter import Interpreter
    runner = Interpreter(model_path="saved_models/NAME.tflite").get_signature_runner("encode")
    out = runner(token_ids=ids.astype("int32"), padding_mask=mask.astype("int32"))
    out["sequence_output"], out["pooled_output"]
"""

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from spanbert_keras.export.serving.pretraining import check_model
from spanbert_keras.files import atomic_write

SIGNATURES = ("encode", "fill_spans")
QUANTIZATIONS = (None, "dynamic_range", "float16")


def export_tflite(
    model,
    path,
    signature="encode",
    quantization=None,
    sequence_length=None,
    top_k=5,
    overwrite=True,
):
    """Converts a `SpanBertPretrainer` signature to a `.tflite` file.

    Args:
        model: a `SpanBertPretrainer` (a mixed-precision one is converted
            through a float32 copy).
        path: the `.tflite` file to write (its folder is created).
        signature: `"encode"` or `"fill_spans"` (see the module docstring).
        quantization: None (float32), `"dynamic_range"` (int8 weights) or
            `"float16"` (float16 weights).
        sequence_length: int, the longest sequence kept (default: the
            encoder's position table).
        top_k: int, predictions per position of `fill_spans`.
        overwrite: bool, replace an existing file (the default; the file is
            written whole, then moved into place). False: refuse.

    Returns:
        The path written.

    Raises:
        ValueError: an unknown signature or quantization, a bad length.
        FileExistsError: `path` exists and `overwrite=False`.
        RuntimeError: the conversion needs an op outside TFLite's built-ins.

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from ai_edge_litert.interpreter import Interpreter
    >>> from spanbert_keras.config import ModelConfig
    >>> from spanbert_keras.export import export_tflite
    >>> from spanbert_keras.training.build import build_pretrainer
    >>> model = build_pretrainer(ModelConfig(num_layers=1, hidden_dim=16,
    ...     num_heads=2, intermediate_dim=32, max_sequence_length=16), 40)
    >>> path = export_tflite(model, os.path.join(tempfile.mkdtemp(), "m.tflite"))
    >>> runner = Interpreter(model_path=path).get_signature_runner("encode")
    >>> out = runner(token_ids=np.array([[2, 7, 3]], "int32"),
    ...              padding_mask=np.ones((1, 3), "int32"))
    >>> out["sequence_output"].shape
    (1, 3, 16)
    """
    check_model(model)
    if signature not in SIGNATURES:
        raise ValueError(
            f"`signature` must be one of {SIGNATURES}. Received: signature={signature!r}"
        )
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"`quantization` must be one of {QUANTIZATIONS}. "
            f"Received: quantization={quantization!r}"
        )
    positions = model.backbone.max_sequence_length
    length = positions if sequence_length is None else sequence_length
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or not (
        1 <= length <= positions
    ):
        raise ValueError(
            f"`sequence_length` must be an int in [1, {positions}] (the encoder's "
            f"position table). Received: sequence_length={sequence_length!r}"
        )
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"`top_k` must be a positive int. Received: top_k={top_k!r}")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory; give the .tflite file's path.")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(
            f"{path} already exists; pass overwrite=True to replace it."
        )

    model = float32_copy(model)
    function, spec = _signature_function(model, signature, int(length), int(top_k))
    workdir = tempfile.mkdtemp(prefix="spanbert-tflite-")
    try:
        import keras

        archive = keras.export.ExportArchive()
        for layer in (model.backbone, model.mlm_head, model.sbo_head):
            archive.track(layer)
        archive.add_endpoint(signature, function, spec)
        saved_model_dir = os.path.join(workdir, "saved_model")
        archive.write_out(saved_model_dir, verbose=False)

        converter = tf.lite.TFLiteConverter.from_saved_model(
            saved_model_dir, signature_keys=[signature]
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantization is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            flatbuffer = converter.convert()
        except Exception as error:  # the converter raises its own ConverterError
            raise RuntimeError(
                f"Converting the {signature!r} signature to TFLite with built-in ops "
                f"only failed (an op would need Flex or a custom kernel): {error}"
            ) from error
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    return atomic_write(path, lambda f: f.write(flatbuffer), mode="wb")


def _signature_function(model, signature, length, top_k):
    def ids_spec(name, rank=2):
        return tf.TensorSpec([None] * rank, tf.int32, name=name)

    if signature == "encode":

        def encode(token_ids, padding_mask):
            outputs = model(
                {
                    "token_ids": token_ids[:, :length],
                    "padding_mask": padding_mask[:, :length],
                },
                training=False,
            )
            return {
                "sequence_output": tf.cast(outputs["sequence_output"], tf.float32),
                "pooled_output": tf.cast(outputs["pooled_output"], tf.float32),
            }

        return encode, [ids_spec("token_ids"), ids_spec("padding_mask")]

    k = min(top_k, model.backbone.vocabulary_size)

    def fill_spans(token_ids, padding_mask, mask_positions, span_boundaries, span_offsets):
        outputs = model(
            {
                "token_ids": token_ids[:, :length],
                "padding_mask": padding_mask[:, :length],
                "mask_positions": mask_positions,
                "span_boundaries": span_boundaries,
                "span_offsets": span_offsets,
            },
            training=False,
        )
        result = {}
        for head in ("mlm", "sbo"):
            log_probs = tf.nn.log_softmax(tf.cast(outputs[f"{head}_logits"], tf.float32))
            values, ids = tf.math.top_k(log_probs, k=k)
            result[f"{head}_top_ids"] = ids
            result[f"{head}_top_log_probs"] = values
        return result

    return fill_spans, [
        ids_spec("token_ids"),
        ids_spec("padding_mask"),
        ids_spec("mask_positions"),
        ids_spec("span_boundaries", rank=3),
        ids_spec("span_offsets"),
    ]


def float32_copy(model):
    """`model` itself if it computes in float32, else a float32 copy of it.

    A mixed-precision (`mixed_bfloat16` / `mixed_float16`) pretrainer is
    rebuilt from its config with every dtype policy set to float32 and given
    the same weights (its variables are float32 already), since TFLite's
    built-in kernels take no bfloat16.
    """
    if model.dtype_policy.compute_dtype == "float32":
        return model
    copy = type(model).from_config(_float32_config(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def _float32_config(value):
    if isinstance(value, dict):
        if value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and "config" in value:
            return dict(value, config=dict(value["config"], name="float32"))
        return {
            key: "float32" if key == "dtype" and isinstance(item, str) else _float32_config(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_float32_config(item) for item in value]
    return value

