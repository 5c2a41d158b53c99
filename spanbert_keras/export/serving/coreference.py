"""Serving signatures of the coreference model: documents in, mentions and their entities out.

| signature | inputs | outputs |
|---|---|---|
| `serving_default` | `text` string [B], one document each | `words` string [B, W], `sentence_ids` int32 [B, W], `word_start_chars` / `word_end_chars` int32 [B, W] (byte offsets, end exclusive), `mention_starts` / `mention_ends` int32 [B, M] (first and last word, inclusive), `mention_start_chars` / `mention_end_chars` int32 [B, M] (bytes, end exclusive), `cluster_ids` int32 [B, M], `num_words`, `num_mentions` int32 [B] |
| `resolve_words` | `words` string [B, W] (pre-split, "" = padding), `sentence_ids` int32 [B, W] (each word's sentence), `speakers` string [B, W], `genre` string [B] (e.g. "nw"; "" for none) | the word outputs above (no character offsets) |

Text is split into words at whitespace and before and after every
punctuation character; a sentence ends after `.`, `!` or `?` (not after the
`.` of a title such as `Mr.` or `Dr.`). Padding is
-1 (mentions) or "" (words). A long document is cut into segments at
sentence boundaries as in training (`CorefFeatures`); there is no length
limit besides memory.

Load without this package:

    import tensorflow as tf, tensorflow_text  # registers the tokenizer ops
    served = tf.saved_model.load("saved_models/NAME/1")
    served.signatures["serving_default"](text=tf.constant(["Emma sang. She smiled."]))
"""

import tensorflow as tf
import tensorflow_text as tf_text

from spanbert_keras.data.coref_features import genre_ids
from spanbert_keras.data.features import MODEL_INPUTS
from spanbert_keras.export.serving.task_serving import TaskServing
from spanbert_keras.export.serving.task_serving import string_spec
from spanbert_keras.layers.coreference_scorer import predicted_clusters
from spanbert_keras.models.span_bert_coreference import DOCUMENT_INPUTS

SENTENCE_END = (".", "!", "?")
# Words whose following "." does not end a sentence.
ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "St", "Mt", "Jr", "Sr", "Prof", "Rev", "Capt",
                 "Col", "Gen", "Lt", "Sgt", "Hon", "Messrs", "vs", "etc")
_PUNCTUATION = r"[^\w\s]"


def _any_of(strings, choices):
    return tf.reduce_any(tf.equal(strings[:, tf.newaxis], tf.constant(choices)), axis=1)


def _ragged(spec_dtype):
    return tf.RaggedTensorSpec(shape=[None], dtype=spec_dtype, ragged_rank=0)


class CoreferenceServing(TaskServing):
    """The signatures of a `SpanBertCoreference` (see the module docstring).

    Args:
        model: the model.
        features: its `spanbert_keras.data.coref_features.CorefFeatures`.
    """

    descriptions = {
        "serving_default": "a document as text (words split at whitespace and punctuation, "
        "sentences at . ! ?) -> its mentions (word indices and byte offsets) and their entities",
        "resolve_words": "pre-split words with their sentence ids, speakers and the genre -> "
        "the same mentions and entities, by word index",
    }

    row_lengths = {
        **{key: "num_words" for key in ("words", "sentence_ids", "word_start_chars",
                                         "word_end_chars")},
        **{key: "num_mentions" for key in ("mention_starts", "mention_ends",
                                            "mention_start_chars", "mention_end_chars",
                                            "cluster_ids")},
    }

    def describe_row(self, row):
        """Adds `clusters`: each entity's mentions, `{"text", "first_word", "last_word"}`."""
        clusters = {}
        for index, cluster in enumerate(row["cluster_ids"]):
            first, last = row["mention_starts"][index], row["mention_ends"][index]
            clusters.setdefault(cluster, []).append(
                {"text": " ".join(row["words"][first : last + 1]), "first_word": first,
                 "last_word": last})
        return {**row, "clusters": list(clusters.values())}

    def resolve(self, words, sentence_ids, speakers, genre):
        """One document: `(mention_starts, mention_ends, cluster_ids)` int32 `[M]`, in words.

        Spans of pieces that cover the same words are one mention (its first
        entity's); an entity left with one mention is dropped.
        """
        features = self.features(words, sentence_ids, speakers)
        inputs = {k: features[k] for k in MODEL_INPUTS + DOCUMENT_INPUTS[:-1]}
        inputs["genre"] = tf.reshape(genre_ids(genre), [1])
        starts, ends, clusters = predicted_clusters(self.model(inputs, training=False))
        starts = tf.gather(features["piece_words"], starts)
        ends = tf.gather(features["piece_words"], ends)
        key = tf.cast(starts, tf.int64) * tf.cast(tf.size(words) + 1, tf.int64) + tf.cast(
            ends, tf.int64)
        unique = tf.unique(key)
        first = tf.math.unsorted_segment_min(tf.range(tf.size(key)), unique.idx,
                                             tf.size(unique.y))
        keep = tf.scatter_nd(first[:, tf.newaxis], tf.ones_like(first), tf.shape(key)) > 0
        starts, ends = tf.boolean_mask(starts, keep), tf.boolean_mask(ends, keep)
        clusters = tf.boolean_mask(clusters, keep)
        sizes = tf.math.unsorted_segment_sum(tf.ones_like(clusters), clusters,
                                             tf.reduce_max(tf.concat([clusters, [-1]], 0)) + 1)
        keep = tf.gather(sizes, clusters) >= 2
        clusters = tf.unique(tf.boolean_mask(clusters, keep)).idx
        return tf.boolean_mask(starts, keep), tf.boolean_mask(ends, keep), clusters

    def _batch(self, fn, elements):
        specs = (_ragged(tf.int32),) * 3
        starts, ends, clusters = tf.map_fn(fn, elements, fn_output_signature=specs)
        return {
            "mention_starts": starts.to_tensor(default_value=-1),
            "mention_ends": ends.to_tensor(default_value=-1),
            "cluster_ids": clusters.to_tensor(default_value=-1),
            "num_mentions": tf.cast(starts.row_lengths(), tf.int32),
        }

    def resolve_words(self, words, sentence_ids, speakers, genre):
        ragged = tf.RaggedTensor.from_tensor(words, padding="")
        lengths = ragged.row_lengths()

        def one(element):
            row_words, row_sentences, row_speakers, row_genre, length = element
            return self.resolve(row_words[:length], row_sentences[:length],
                                row_speakers[:length], row_genre)

        out = self._batch(one, (words, tf.cast(sentence_ids, tf.int32), speakers, genre,
                                lengths))
        out["words"] = ragged.to_tensor(default_value="")
        out["num_words"] = tf.cast(lengths, tf.int32)
        return out

    def resolve_text(self, text):
        words, begins, ends = tf_text.regex_split_with_offsets(
            text, delim_regex_pattern=rf"\s+|{_PUNCTUATION}",
            keep_delim_regex_pattern=_PUNCTUATION)
        flat = words.flat_values
        previous = tf.concat([[""], flat], axis=0)[:-1]
        starts = tf.cast(words.row_starts(), tf.int32)
        starts = tf.boolean_mask(starts, starts < tf.size(flat))  # empty last rows
        first = tf.scatter_nd(starts[:, tf.newaxis], tf.ones_like(starts), tf.shape(flat)) > 0
        previous = tf.where(first, "", previous)
        is_end = (_any_of(flat, SENTENCE_END)
                  & ~(tf.equal(flat, ".") & _any_of(previous, ABBREVIATIONS)))
        sentence_ends = words.with_flat_values(tf.cast(is_end, tf.int32))
        sentence_ids = tf.cumsum(sentence_ends.to_tensor(), axis=1, exclusive=True)
        dense = words.to_tensor(default_value="")
        out = self.resolve_words(dense, sentence_ids, tf.zeros_like(dense),
                                 tf.fill(tf.shape(text), ""))
        begins = tf.cast(begins.to_tensor(default_value=-1), tf.int32)
        ends = tf.cast(ends.to_tensor(default_value=-1), tf.int32)
        out["word_start_chars"], out["word_end_chars"] = begins, ends
        out["sentence_ids"] = tf.where(dense != "", sentence_ids, -1)
        found = out["mention_starts"] >= 0
        out["mention_start_chars"] = tf.where(
            found, tf.gather(begins, tf.maximum(out["mention_starts"], 0), batch_dims=1), -1)
        out["mention_end_chars"] = tf.where(
            found, tf.gather(ends, tf.maximum(out["mention_ends"], 0), batch_dims=1), -1)
        return out

    def endpoints(self):
        return {
            "serving_default": (self.resolve_text, [string_spec("text")]),
            "resolve_words": (self.resolve_words, [
                string_spec("words", rank=2),
                tf.TensorSpec([None, None], tf.int32, name="sentence_ids"),
                string_spec("speakers", rank=2), string_spec("genre")]),
        }

    def document_function(self):
        """`resolve` traced for one document (what `predict` runs)."""
        return tf.function(self.resolve, input_signature=[
            tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], tf.string), tf.TensorSpec([], tf.string)], autograph=False)
