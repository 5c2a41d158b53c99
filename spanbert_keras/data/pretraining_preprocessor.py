"""The pre-training preprocessor: text -> wordpieces -> packed block -> span masks -> targets.

One layer assembles the steps every pre-training input takes, so the dataset,
the exported signatures, `spanbert-keras preview` and the `fill_spans`
check cannot drift apart:

    text --tokenize--> wordpieces --pack--> [CLS] ... [SEP] [PAD]... (L ids)
         --mask (SpanMasker)--> masked ids + MLM / SBO target slots

A text with literal `[MASK]` runs takes the same path with its own masks
instead of the masker's (`mask_token_targets`: a run of k [MASK]s is one
span). The corpus pipeline (`text_blocks`) packs whole sentences of a document
into blocks with this layer's `tokenizer` and `pack`, then masks batches of
blocks with `mask`.

It plays the part keras-hub's `BertMaskedLMPreprocessor` plays for BERT, and
travels with the model the same way: a pre-training run's `model.keras`
holds it (`SpanBertPretrainer.preprocessor`), its config holding the
vocabulary, the block length and the masker's settings and corpus counts.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from spanbert_keras.config import MaskingConfig
from spanbert_keras.data.packing import pack_ids
from spanbert_keras.data.span_masker import SpanMasker
from spanbert_keras.data.span_targets import span_targets
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.data.vocabulary import load_vocabulary

# The masker's config keys that are not its settings (export_info.json leaves them out).
_NOT_SETTINGS = ("vocabulary", "replacement_counts", "name", "trainable", "dtype")


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertPretrainingPreprocessor(keras.layers.Layer):
    """Tokenises, packs and span-masks text for a `SpanBertPretrainer`.

    TensorFlow ops only: usable eagerly, in `tf.data`, under `tf.function`
    and in an exported SavedModel.

    Args:
        vocabulary: a `Vocabulary`, a list of wordpieces or a `vocab.txt` path.
        sequence_length: int >= 3, `L`, the packed length of a block
            (`[CLS]` and `[SEP]` included).
        max_pair_targets: int >= 1, the rows of the model's SBO position
            table: targets further into a span get no SBO target.
        masker: a `SpanMasker` (or its config) over the same vocabulary and
            `max_pair_targets`, or None for a preprocessor that only packs
            text and reads [MASK] runs (`encode`, `mask_token_targets`).

    Call arguments:
        text: string tensor [B] (or a list of str).
        seeds: optional int64 [B, 2], one stateless seed per text (dynamic
            masking); None: the masks depend only on the text and the
            masker's seed (static masking).

    Returns:
        The masker's dict (`token_ids`, `padding_mask`, `segment_ids`,
        `mask_positions`, `mask_ids`, `mask_weights`, `span_boundaries`,
        `span_offsets`, `sbo_weights`) and `truncated` bool [B] (the text had
        more than `L - 2` wordpieces and was cut).

    Example:

    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]
    >>> preprocessor = SpanBertPretrainingPreprocessor.from_masking_config(
    ...     vocab, MaskingConfig(mask_rate=0.5, random_token_distribution="uniform"),
    ...     sequence_length=8, seed=1)
    >>> out = preprocessor(["the cat sat"])
    >>> out["token_ids"].shape, int(out["mask_weights"].numpy().sum())
    (TensorShape([1, 8]), 2)
    >>> encoded = preprocessor.encode(["the [MASK] sat"], mask_token_in_text=True)
    >>> encoded["token_ids"].numpy().tolist()
    [[2, 5, 4, 7, 3, 0, 0, 0]]
    >>> targets = preprocessor.mask_token_targets(encoded["token_ids"], encoded["padding_mask"])
    >>> targets["mask_positions"].numpy().tolist(), targets["span_boundaries"].numpy().tolist()
    ([[2]], [[[1, 3]]])
    """

    def __init__(self, vocabulary, sequence_length=512, max_pair_targets=15, masker=None,
                 **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.vocabulary = load_vocabulary(vocabulary)
        if isinstance(sequence_length, bool) or not isinstance(sequence_length, (int, np.integer)) \
                or sequence_length < 3:
            raise ValueError("`sequence_length` must be an int >= 3 ([CLS], a wordpiece, "
                             f"[SEP]). Received: sequence_length={sequence_length!r}")
        self.sequence_length = int(sequence_length)
        if isinstance(masker, dict):
            masker = keras.layers.deserialize(masker)
        if masker is not None:
            if not isinstance(masker, SpanMasker):
                raise TypeError(f"`masker` must be a SpanMasker or None; got {type(masker)}.")
            if list(masker.vocabulary.tokens) != list(self.vocabulary.tokens):
                raise ValueError("The masker's vocabulary is not the preprocessor's.")
            max_pair_targets = masker.max_pair_targets if max_pair_targets is None \
                else max_pair_targets
            if masker.max_pair_targets != max_pair_targets:
                raise ValueError(
                    f"The masker gives SBO targets to {masker.max_pair_targets} tokens of a "
                    f"span but `max_pair_targets` is {max_pair_targets}.")
        if isinstance(max_pair_targets, bool) or not isinstance(max_pair_targets, (int, np.integer)) \
                or max_pair_targets < 1:
            raise ValueError("`max_pair_targets` must be an int >= 1. "
                             f"Received: max_pair_targets={max_pair_targets!r}")
        self.max_pair_targets = int(max_pair_targets)
        self.masker = masker
        self.tokenizer = SpanBertTokenizer(self.vocabulary)
        self.built = True

    @classmethod
    def from_masking_config(cls, vocabulary, masking=None, replacement_counts=None,
                            sequence_length=512, max_pair_targets=15, seed=None, **kwargs):
        """The preprocessor of a run: its vocabulary, block length and `MaskingConfig`.

        Args:
            vocabulary: a `Vocabulary`, a list of wordpieces or a `vocab.txt` path.
            masking: a `MaskingConfig` (SpanBERT's when None).
            replacement_counts: the corpus' token counts when
                `masking.random_token_distribution` is "unigram" (see
                `SpanMasker.from_masking_config`).
            sequence_length, max_pair_targets: as the constructor's.
            seed: the masker's base seed (static masking).
        """
        vocabulary = load_vocabulary(vocabulary)
        masker = SpanMasker.from_masking_config(
            vocabulary, masking or MaskingConfig(), replacement_counts,
            max_pair_targets=max_pair_targets, seed=seed)
        return cls(vocabulary, sequence_length=sequence_length,
                   max_pair_targets=max_pair_targets, masker=masker, **kwargs)

    # ------------------------------------------------------------- the steps
    def pack(self, token_ids):
        """`[CLS] wordpieces [SEP] [PAD]...` of `L` ids (`pack_ids`): ids, bool mask, truncated."""
        vocab = self.vocabulary
        return pack_ids(token_ids, self.sequence_length, vocab.cls_id, vocab.sep_id, vocab.pad_id)

    def encode(self, text, mask_token_in_text=False):
        """Tokenised and packed text: `token_ids` int32, `padding_mask` bool [B, L], `truncated`.

        `mask_token_in_text`: every literal `[MASK]` becomes the mask id.
        """
        token_ids, padding_mask, truncated = self.pack(
            self.tokenizer.tokenize(text, mask_token_in_text=mask_token_in_text))
        return {"token_ids": token_ids, "padding_mask": padding_mask, "truncated": truncated}

    def mask(self, blocks):
        """Span-masks packed blocks (`token_ids`, `padding_mask`, optional `seed`): `SpanMasker`."""
        if self.masker is None:
            raise ValueError("This preprocessor has no masker: build it with "
                             "`SpanBertPretrainingPreprocessor.from_masking_config`.")
        return self.masker(blocks)

    def mask_token_targets(self, token_ids, padding_mask):
        """The target slots of the [MASK] runs already in `token_ids` (`span_targets`)."""
        is_mask = tf.equal(token_ids, self.vocabulary.mask_id)
        return span_targets(is_mask, padding_mask, self.max_pair_targets)

    def call(self, text, seeds=None):
        encoded = self.encode(text)
        blocks = {"token_ids": encoded["token_ids"], "padding_mask": encoded["padding_mask"]}
        if seeds is not None:
            blocks["seed"] = seeds
        outputs = dict(self.mask(blocks))
        outputs["truncated"] = encoded["truncated"]
        return outputs

    # ----------------------------------------------------------- describing
    def masking_settings(self):
        """The masker's settings (no vocabulary or counts), for `export_info.json`; None without."""
        if self.masker is None:
            return None
        settings = {key: value for key, value in self.masker.get_config().items()
                    if key not in _NOT_SETTINGS}
        settings["random_token_distribution"] = (
            "uniform" if self.masker.replacement_counts is None else "unigram")
        return settings

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary": list(self.vocabulary.tokens),
            "sequence_length": self.sequence_length,
            "max_pair_targets": self.max_pair_targets,
            "masker": None if self.masker is None else keras.layers.serialize(self.masker),
        })
        return config


def without_corpus_counts(masking):
    """`masking` with uniform random tokens when it asks for the corpus' counts.

    For a preprocessor built where the run's corpus counts are not at hand
    (an export or a preview without them); `masking_settings` records which.
    """
    masking = masking or MaskingConfig()
    if masking.random_token_distribution == "unigram":
        return dataclasses.replace(masking, random_token_distribution="uniform")
    return masking
