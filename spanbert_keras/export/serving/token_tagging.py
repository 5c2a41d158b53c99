"""Serving signatures of the token tagger (NER): a sentence in, a tag per word out.

| signature | inputs | outputs |
|---|---|---|
| `serving_default` | `text` string [B] (words separated by whitespace) | `words` string [B, W], `tags` string [B, W], `scores` float32 [B, W] (each tag's probability), `num_words` int32 [B], `truncated` bool [B] |
| `tag_words` | `words` string [B, W] (pre-split words, padded with "") | the same |

Rows are padded to the longest sentence of the batch (`""` words and tags,
score 0). Each word is tagged at its first wordpiece; a word beyond the
sequence length gets the first label (`O`) with score 0 and its sentence's
`truncated` flag.

Load without this package:

    import tensorflow as tf, tensorflow_text  # registers the tokenizer ops
    served = tf.saved_model.load("saved_models/NAME/1")
    served.signatures["serving_default"](text=tf.constant(["Emma visited Highbury ."]))
"""

import tensorflow as tf

from spanbert_keras.export.serving.task_serving import TaskServing
from spanbert_keras.export.serving.task_serving import string_spec


class TokenTaggingServing(TaskServing):
    """The signatures of a `SpanBertTokenTagger`.

    Args:
        model: the model.
        features: its `spanbert_keras.data.conll.TaggingFeatures`.
        labels: list of str, the tag of each class (`O` first).
    """

    descriptions = {
        "serving_default": "a sentence (words split at whitespace) -> wordpieces -> a tag "
        "and its probability per word, read at the word's first piece",
        "tag_words": "pre-split words ('' = padding) -> the same outputs",
    }

    row_lengths = {"words": "num_words", "tags": "num_words", "scores": "num_words"}

    def __init__(self, model, features, labels):
        super().__init__(model, features)
        self.labels = list(labels)

    def tag_text(self, text):
        return self._tag(tf.strings.split(text))

    def tag_words(self, words):
        return self._tag(tf.RaggedTensor.from_tensor(words, padding=""))

    def _tag(self, words):
        features = self.features(words)
        probabilities = tf.nn.softmax(self.logits(features), axis=-1)  # [B, L, C]
        positions = tf.minimum(features["first_positions"].to_tensor(),
                               self.features.sequence_length - 1)
        per_word = tf.RaggedTensor.from_tensor(  # [B, (W), C]
            tf.gather(probabilities, positions, batch_dims=1), lengths=words.row_lengths()
        )
        kept = features["word_kept"]
        tag_ids = tf.where(kept.flat_values,
                           tf.argmax(per_word.flat_values, axis=-1, output_type=tf.int32), 0)
        scores = tf.where(kept.flat_values, tf.reduce_max(per_word.flat_values, axis=-1), 0.0)
        tags = tf.gather(tf.constant(self.labels, tf.string), tag_ids)
        return {
            "words": words.to_tensor(default_value=""),
            "tags": words.with_flat_values(tags).to_tensor(default_value=""),
            "scores": words.with_flat_values(scores).to_tensor(default_value=0.0),
            "num_words": tf.cast(words.row_lengths(), tf.int32),
            "truncated": features["truncated"],
        }

    def endpoints(self):
        return {
            "serving_default": (self.tag_text, [string_spec("text")]),
            "tag_words": (self.tag_words, [string_spec("words", rank=2)]),
        }
