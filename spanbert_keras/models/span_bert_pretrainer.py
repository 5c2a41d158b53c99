"""SpanBERT pre-training model: encoder + MLM head + SBO head, with custom steps."""

import keras
import tensorflow as tf
from keras import ops

from spanbert_keras import preset_loading
from spanbert_keras.data.pretraining_preprocessor import SpanBertPretrainingPreprocessor
from spanbert_keras.layers.masked_lm_head import BertMaskedLMHead
from spanbert_keras.layers.span_boundary_head import SpanBoundaryHead
from spanbert_keras.losses import global_sum
from spanbert_keras.losses import top_k_log_probs
from spanbert_keras.losses import weighted_cross_entropy_terms
from spanbert_keras.models.distributed import DistributedTraining
from spanbert_keras.models.serialization import deserialize_nested

MLM_KEYS = ("mask_positions", "mask_ids", "mask_weights")
SBO_KEYS = ("span_boundaries", "span_offsets", "mask_ids", "sbo_weights")
CLIP_MODES = ("mean_loss", "authors")


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertPretrainer(DistributedTraining, keras.Model):
    """A BERT encoder with SpanBERT's two heads and its training step.

    `model.fit(dataset)` takes batches of the span-masking pipeline (a dict,
    no labels):

    | key | dtype, shape | meaning |
    |---|---|---|
    | `token_ids` | int32 [B, L] | ids after masking |
    | `padding_mask` | bool [B, L] | True on real tokens |
    | `segment_ids` | int32 [B, L] | zeros (optional) |
    | `mask_positions` | int32 [B, P] | positions of the targets |
    | `mask_ids` | int32 [B, P] | original ids of the targets |
    | `mask_weights` | float32 [B, P] | 1 real target, 0 padding |
    | `span_boundaries` | int32 [B, P, 2] | s-1 and e+1 of the target's span |
    | `span_offsets` | int32 [B, P] | i - s |
    | `sbo_weights` | float32 [B, P] | 1 where the target has an SBO target |

    Calling the model returns a dict with `sequence_output`, `pooled_output`
    and, when their inputs are present, `mlm_logits` [B, P, V] (needs
    `mask_positions`) and `sbo_logits` [B, P, V] (needs `span_boundaries` and
    `span_offsets`); so one model serves training and inference.

    The loss is
    `sum(MLM CE * mask_weights) / n_masked
    + sbo_weight * sum(SBO CE * sbo_weights) / n_sbo`, with cross entropies
    computed on float32 logits. The counts are summed over all replicas
    (`tf.distribute` all-reduce), each replica's loss is its share of the
    global loss, and the trackers are updated with `share * replicas`, so
    logged values equal a single-device run. Logged metrics: `loss`,
    `mlm_loss`, `sbo_loss` (per-step means over the epoch), `mlm_accuracy`,
    `sbo_accuracy` (target-weighted over the epoch); `fit` also logs
    `grad_norm` (true global norm of the unclipped gradient),
    `learning_rate` and `num_tokens` (non-padding tokens in the global batch).

    The train step scales the loss with `optimizer.scale_loss` inside the tape
    (loss scaling under `mixed_float16`: pass `dtype=` here, the outer model's
    policy decides it), densifies every gradient, all-reduces them when there
    are several replicas, clips them by their true global norm (`clip_norm`)
    and applies them (see `DistributedTraining`: they cross the wire once).
    Variables without a gradient (the unused pooler) are left out of the
    update. Do not also set `clipnorm` / `global_clipnorm` on the optimizer.
    Under a strategy, `compile(jit_compile=True)` compiles each replica's
    forward and backward pass with XLA; the target counts and the gradients
    are summed across replicas outside it.

    Args:
        backbone: a `keras_hub.models.BertBackbone` (see
            `spanbert_keras.models.backbone.build_backbone`). Its
            `token_embedding` is the decoder of both heads (one variable).
        sbo_weight: float >= 0, weight of the SBO loss.
        clip_norm: float > 0 or None, clip the global gradient norm to it.
        clip_mode: what `clip_norm` bounds. `"mean_loss"`: the norm of the
            gradient of the loss above (a mean over targets). `"authors"`:
            as the authors' fairseq trainer, whose gradient is divided by
            the targets of each GPU once more, the norm divided by the MLM
            targets per replica (so at their 256 x 512 batch on 32 GPUs,
            ~600 targets each, clipping acts only on a ~600x larger
            gradient: in practice rarely). The update itself is the same.
        max_pair_targets: int, rows of the SBO relative-position table.
        position_embedding_dim: int, width of that table.
        predict_top_k: None or int; if set, `predict` returns
            `{mlm,sbo}_top_ids` and `{mlm,sbo}_top_log_probs` [B, P, k]
            instead of the outputs dict.
        dtype: dtype policy of the model and heads (default: the backbone's).
            Must match the backbone's policy.
        preprocessor: optional `SpanBertPretrainingPreprocessor`, the text ->
            masked batch steps of this model's inputs (a pre-training run
            sets it). It is saved with the model (`model.keras`) and used by
            the exported signatures; it takes no part in `call` or `fit`,
            whose batches come masked from the dataset.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.config import ModelConfig
    >>> from spanbert_keras.models.backbone import build_backbone
    >>> from spanbert_keras.models.span_bert_pretrainer import SpanBertPretrainer
    >>> config = ModelConfig(num_layers=1, hidden_dim=16, num_heads=2,
    ...                      intermediate_dim=32, max_sequence_length=32)
    >>> model = SpanBertPretrainer(build_backbone(config, vocabulary_size=40))
    >>> sorted(model(dict(token_ids=np.ones((2, 8), "int32"),
    ...                   padding_mask=np.ones((2, 8), bool))))
    ['pooled_output', 'sequence_output']

    References:
        Joshi et al., "SpanBERT: Improving Pre-training by Representing and
        Predicting Spans", TACL 2020.
    """

    replica_jit_compile = True  # see `DistributedTraining`

    def __init__(
        self,
        backbone,
        sbo_weight=1.0,
        clip_norm=1.0,
        clip_mode="mean_loss",
        max_pair_targets=15,
        position_embedding_dim=200,
        predict_top_k=None,
        dtype=None,
        preprocessor=None,
        **kwargs,
    ):
        if not hasattr(backbone, "token_embedding"):
            raise ValueError(
                "`backbone` must be a keras-hub BertBackbone (with a "
                f"`token_embedding`). Received: {backbone!r}"
            )
        if dtype is None:
            dtype = backbone.dtype_policy
        elif keras.dtype_policies.get(dtype).name != backbone.dtype_policy.name:
            raise ValueError(
                f"dtype={keras.dtype_policies.get(dtype).name!r} does not match "
                f"the backbone's dtype policy {backbone.dtype_policy.name!r}; "
                "build the backbone with the same dtype."
            )
        super().__init__(dtype=dtype, **kwargs)
        if not float(sbo_weight) >= 0:
            raise ValueError(f"`sbo_weight` must be >= 0. Received: {sbo_weight}")
        if clip_norm is not None and not float(clip_norm) > 0:
            raise ValueError(
                f"`clip_norm` must be positive or None. Received: clip_norm={clip_norm}"
            )
        if clip_mode not in CLIP_MODES:
            raise ValueError(
                f"`clip_mode` must be one of {CLIP_MODES}. Received: clip_mode={clip_mode!r}"
            )
        if predict_top_k is not None and int(predict_top_k) < 1:
            raise ValueError(
                "`predict_top_k` must be a positive int or None. "
                f"Received: predict_top_k={predict_top_k}"
            )
        self.backbone = backbone
        self.sbo_weight = float(sbo_weight)
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self.clip_mode = clip_mode
        self.max_pair_targets = int(max_pair_targets)
        self.position_embedding_dim = int(position_embedding_dim)
        self.predict_top_k = None if predict_top_k is None else int(predict_top_k)
        self.preprocessor = _checked_preprocessor(
            preprocessor, backbone.vocabulary_size, self.max_pair_targets)

        initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.mlm_head = BertMaskedLMHead(
            token_embedding=backbone.token_embedding,
            intermediate_activation="gelu",
            layer_norm_epsilon=1e-12,
            kernel_initializer=initializer,
            dtype=self.dtype_policy,
            name="mlm_head",
        )
        self.sbo_head = SpanBoundaryHead(
            token_embedding=backbone.token_embedding,
            max_pair_targets=self.max_pair_targets,
            position_embedding_dim=self.position_embedding_dim,
            layer_norm_epsilon=1e-12,
            kernel_initializer=initializer,
            dtype=self.dtype_policy,
            name="sbo_head",
        )
        hidden = backbone.hidden_dim
        self.mlm_head.build((None, None, hidden), (None, None))
        self.sbo_head.build((None, None, hidden), (None, None, 2), (None, None))

        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mlm_loss_tracker = keras.metrics.Mean(name="mlm_loss")
        self.sbo_loss_tracker = keras.metrics.Mean(name="sbo_loss")
        self.mlm_accuracy_tracker = keras.metrics.Mean(name="mlm_accuracy")
        self.sbo_accuracy_tracker = keras.metrics.Mean(name="sbo_accuracy")
        self.built = True

    def build(self, input_shape=None):
        # Every layer is built in the constructor (shapes do not depend on
        # the input), so loading a saved model needs no sample batch.
        self.built = True

    def compile(self, optimizer="adamw", **kwargs):
        """`keras.Model.compile`, then builds the optimizer on all trainable variables.

        Building it here (not on the first `apply`, which only sees the
        variables that have a gradient) keeps its slots aligned with the model
        for saving, loading and `BackupAndRestore`. Pass no `loss`: the
        losses are the model's own.
        """
        super().compile(optimizer=optimizer, **kwargs)
        if self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    def compile_from_config(self, config):
        # Used by `keras.saving.load_model`; the saved config is `compile()`'s.
        self.compile(**keras.saving.deserialize_keras_object(config))

    @property
    def metrics(self):
        return [
            self.loss_tracker,
            self.mlm_loss_tracker,
            self.sbo_loss_tracker,
            self.mlm_accuracy_tracker,
            self.sbo_accuracy_tracker,
        ]

    def call(self, inputs, training=False):
        token_ids = inputs["token_ids"]
        padding_mask = inputs.get("padding_mask")
        if padding_mask is None:
            padding_mask = ops.ones_like(token_ids, dtype="int32")
        segment_ids = inputs.get("segment_ids")
        if segment_ids is None:
            segment_ids = ops.zeros_like(token_ids, dtype="int32")
        encoded = self.backbone(
            {
                "token_ids": ops.cast(token_ids, "int32"),
                "segment_ids": ops.cast(segment_ids, "int32"),
                "padding_mask": ops.cast(padding_mask, "int32"),
            },
            training=training,
        )
        sequence_output = encoded["sequence_output"]
        outputs = {
            "sequence_output": sequence_output,
            "pooled_output": encoded["pooled_output"],
        }
        if "mask_positions" in inputs:
            outputs["mlm_logits"] = self.mlm_head(
                sequence_output,
                mask_positions=ops.cast(inputs["mask_positions"], "int32"),
            )
        if "span_boundaries" in inputs and "span_offsets" in inputs:
            outputs["sbo_logits"] = self.sbo_head(
                sequence_output,
                span_boundaries=inputs["span_boundaries"],
                span_offsets=inputs["span_offsets"],
            )
        return outputs

    # ----------------------------------------------------------------- losses
    def _check_batch(self, x):
        if not isinstance(x, dict):
            raise ValueError(
                "SpanBertPretrainer expects each batch to be a dict of the span "
                f"pipeline's tensors. Received: {type(x).__name__}"
            )
        missing = sorted(set(("token_ids",) + MLM_KEYS + SBO_KEYS) - set(x))
        if missing:
            raise ValueError(
                f"The batch lacks {missing}; received keys {sorted(x)}. Training "
                "and evaluation need the span-masking pipeline's full batch."
            )

    def _target_counts(self, x):
        """float32 [2]: the MLM and SBO targets of the global batch (at least 1 each)."""
        counts = ops.stack([
            ops.sum(ops.cast(x["mask_weights"], "float32")),
            ops.sum(ops.cast(x["sbo_weights"], "float32")),
        ])
        return ops.maximum(global_sum(counts), 1.0)  # the sum is 0 too when a count is 0

    def _span_loss_terms(self, x, outputs, counts=None):
        """Loss parts in float32; each replica holds its share of the global values.

        `counts`: `_target_counts(x)`, computed here when None.
        """
        mlm_ce, mlm_correct, _ = weighted_cross_entropy_terms(
            outputs["mlm_logits"], x["mask_ids"], x["mask_weights"]
        )
        sbo_ce, sbo_correct, _ = weighted_cross_entropy_terms(
            outputs["sbo_logits"], x["mask_ids"], x["sbo_weights"]
        )
        if counts is None:
            counts = self._target_counts(x)
        mlm_loss = mlm_ce / counts[0]
        sbo_loss = sbo_ce / counts[1]
        return {
            "loss": mlm_loss + self.sbo_weight * sbo_loss,
            "mlm_loss": mlm_loss,
            "sbo_loss": sbo_loss,
            "mlm_accuracy": mlm_correct / counts[0],
            "sbo_accuracy": sbo_correct / counts[1],
            "mlm_count": counts[0],
            "sbo_count": counts[1],
        }

    def _update_trackers(self, terms):
        replicas = float(self.distribute_strategy.num_replicas_in_sync)
        self.loss_tracker.update_state(terms["loss"] * replicas)
        self.mlm_loss_tracker.update_state(terms["mlm_loss"] * replicas)
        self.sbo_loss_tracker.update_state(terms["sbo_loss"] * replicas)
        self.mlm_accuracy_tracker.update_state(
            terms["mlm_accuracy"] * replicas, sample_weight=terms["mlm_count"]
        )
        self.sbo_accuracy_tracker.update_state(
            terms["sbo_accuracy"] * replicas, sample_weight=terms["sbo_count"]
        )

    def _clip_and_reduce(self, grads, mlm_count):
        """Densify, sum over replicas, clip by the true global norm.

        Args:
            grads: the gradients of the scaled loss.
            mlm_count: float32, the MLM targets of the global batch.

        Returns the gradients to hand to `optimizer.apply` (summed over the
        replicas; see `_apply_summed_gradients`) and the unscaled global norm
        before clipping.
        """
        grads = self._sum_gradients(grads)
        replicas = self._replicas
        # `scale_loss(1)` is the loss scale (1 without a LossScaleOptimizer).
        scale = ops.cast(self.optimizer.scale_loss(1.0), "float32")
        norm = tf.linalg.global_norm(grads)
        if self.clip_norm is not None:
            threshold = self.clip_norm * scale
            if self.clip_mode == "authors":
                threshold = threshold * ops.maximum(mlm_count / replicas, 1.0)
            grads, _ = tf.clip_by_global_norm(grads, threshold, use_norm=norm)
        return grads, norm / scale

    # ------------------------------------------------------------------ steps
    def _loss_and_gradients(self, x, counts):
        """One replica's forward and backward pass (XLA-compiled per replica, see `compile`)."""
        with tf.GradientTape() as tape:
            outputs = self(x, training=True)
            terms = self._span_loss_terms(x, outputs, counts)
            scaled_loss = self.optimizer.scale_loss(terms["loss"])
        return terms, tape.gradient(scaled_loss, self.trainable_variables)

    def train_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        self._check_batch(x)
        learning_rate = ops.cast(self.optimizer.learning_rate, "float32")
        # Cross-replica sums stay outside the (per-replica) compiled pass.
        counts = self._target_counts(x)
        terms, grads = self._replica_function(self._loss_and_gradients)(x, counts)
        pairs = [(g, v) for g, v in zip(grads, self.trainable_variables) if g is not None]
        grads, grad_norm = self._clip_and_reduce([g for g, _ in pairs], terms["mlm_count"])
        self._apply_summed_gradients(grads, [v for _, v in pairs])
        self._update_trackers(terms)
        logs = {m.name: m.result() for m in self.metrics}
        logs["grad_norm"] = grad_norm
        logs["learning_rate"] = learning_rate
        logs["num_tokens"] = self._num_tokens(x)
        return self._step_logs(logs)

    def test_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        self._check_batch(x)
        outputs = self(x, training=False)
        self._update_trackers(self._span_loss_terms(x, outputs))
        return self._step_logs({m.name: m.result() for m in self.metrics})

    def predict_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        outputs = self(x, training=False)
        if self.predict_top_k is None:
            return outputs
        result = {}
        for head in ("mlm", "sbo"):
            if f"{head}_logits" in outputs:
                values, ids = top_k_log_probs(outputs[f"{head}_logits"], self.predict_top_k)
                result[f"{head}_top_ids"] = ids
                result[f"{head}_top_log_probs"] = values
        return result

    def _num_tokens(self, x):
        if "padding_mask" in x:
            count = ops.sum(ops.cast(x["padding_mask"], "float32"))
        else:
            count = ops.cast(ops.size(x["token_ids"]), "float32")
        return count * float(self.distribute_strategy.num_replicas_in_sync)

    # ------------------------------------------------------------- configure
    @classmethod
    def from_preset(cls, preset):
        """The pretrainer (encoder, MLM and SBO heads) of a run directory or checkpoint.

        `preset`: a built-in preset's name (`"austen-tiny"`), a
        `spanbert-keras pretrain` / `import` run directory (its finished
        model, else its last checkpoint), or a released checkpoint
        (`spanbert_keras.checkpoints.load_pretrained`: heads the file lacks
        are fresh and reported). `import spanbert_keras` registers the
        readers.

        Example:

        >>> import spanbert_keras
        >>> from spanbert_keras.models.span_bert_pretrainer import SpanBertPretrainer
        >>> SpanBertPretrainer.from_preset("austen-tiny").backbone.vocabulary_size
        4000
        """
        model = preset_loading.load("pretrainer", preset)
        if model is None:
            raise preset_loading.not_found(preset)
        return model

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.layers.serialize(self.backbone),
                "sbo_weight": self.sbo_weight,
                "clip_norm": self.clip_norm,
                "clip_mode": self.clip_mode,
                "max_pair_targets": self.max_pair_targets,
                "position_embedding_dim": self.position_embedding_dim,
                "predict_top_k": self.predict_top_k,
                "preprocessor": None if self.preprocessor is None
                else keras.layers.serialize(self.preprocessor),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_nested(config))


def _checked_preprocessor(preprocessor, vocabulary_size, max_pair_targets):
    """`preprocessor` when it fits the model (its vocabulary, its SBO table), else an error."""
    if preprocessor is None:
        return None
    if not isinstance(preprocessor, SpanBertPretrainingPreprocessor):
        raise TypeError("`preprocessor` must be a SpanBertPretrainingPreprocessor or None. "
                        f"Received: {type(preprocessor).__name__}")
    if preprocessor.vocabulary.size != vocabulary_size:
        raise ValueError(f"The preprocessor's vocabulary has {preprocessor.vocabulary.size} "
                         f"wordpieces but the model embeds {vocabulary_size}.")
    if preprocessor.max_pair_targets != max_pair_targets:
        raise ValueError(f"The preprocessor gives SBO targets to {preprocessor.max_pair_targets} "
                         f"tokens of a span but the model's table has {max_pair_targets} rows.")
    return preprocessor
