"""Serving signatures of the classifiers: relations (TACRED) and texts (GLUE).

Both SavedModels take strings, tokenise and pack them in the graph with the
task's features (the same code as training and `predict`: for relations, the
authors' TACRED conversion, `spanbert_keras.data.tacred.RelationFeatures`),
and return labels and scores:

| model | signature `serving_default` inputs | outputs |
|---|---|---|
| relations | `tokens` string [B, T] (a sentence's tokens as TACRED gives them, padded with ""; PTB brackets `-LRB-` ... `-RCB-` are converted in the graph), `subj_start`, `subj_end`, `obj_start`, `obj_end` int32 [B] (inclusive token spans), `subj_type`, `obj_type` string [B] | `label` string [B], `label_id` int32 [B], `score` float32 [B] (its probability), `scores` float32 [B, C] (every label's, in the order of `export_info.json`'s `settings.labels`), `truncated`, `entities_truncated` bool [B] |
| texts | `text` string [B], or `text_a`, `text_b` string [B] for pairs | `label`, `label_id`, `score`, `scores`, `truncated`; a regression model (STS-B): `score` float32 [B] (the predicted value), `truncated` |

Load without this package:

    import tensorflow as tf, tensorflow_text  # registers the tokenizer ops
    served = tf.saved_model.load("saved_models/NAME/1")
    served.signatures["serving_default"](text=tf.constant(["A fine day ."]))
"""

import tensorflow as tf

from spanbert_keras.export.serving.task_serving import TaskServing
from spanbert_keras.export.serving.task_serving import int_spec
from spanbert_keras.export.serving.task_serving import string_spec


def class_outputs(logits, labels):
    """`label`, `label_id`, `score` (its probability) and `scores` [B, C] from logits [B, C].

    Example:

    >>> import tensorflow as tf
    >>> out = class_outputs(tf.math.log([[0.2, 0.8], [0.6, 0.4]]), ["no", "yes"])
    >>> out["label"].numpy().tolist(), [round(float(s), 2) for s in out["score"]]
    ([b'yes', b'no'], [0.8, 0.6])
    """
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
    label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return {
        "label": tf.gather(tf.constant(list(labels), tf.string), label_id),
        "label_id": label_id,
        "score": tf.reduce_max(probabilities, axis=-1),
        "scores": probabilities,
    }


class RelationServing(TaskServing):
    """The signature of a `SpanBertRelationClassifier`.

    Args:
        model: the model.
        features: its `spanbert_keras.data.tacred.RelationFeatures`.
        labels: list of str, the relation of each class.
    """

    descriptions = {
        "serving_default": "a sentence's tokens, the subject and object spans and types -> "
        "entity markers, [CLS] ... [SEP] -> the relation and its probability"
    }

    def __init__(self, model, features, labels):
        super().__init__(model, features)
        self.labels = list(labels)

    def classify(self, tokens, subj_start, subj_end, obj_start, obj_end, subj_type, obj_type):
        features = self.features(tokens, subj_start, subj_end, obj_start, obj_end, subj_type,
                                 obj_type)
        outputs = class_outputs(self.logits(features), self.labels)
        outputs["truncated"] = features["truncated"]
        outputs["entities_truncated"] = features["entities_truncated"]
        return outputs

    def endpoints(self):
        spec = [string_spec("tokens", rank=2)]
        spec += [int_spec(name) for name in ("subj_start", "subj_end", "obj_start", "obj_end")]
        spec += [string_spec("subj_type"), string_spec("obj_type")]
        return {"serving_default": (self.classify, spec)}


class TextClassificationServing(TaskServing):
    """The signature of a `SpanBertTextClassifier` (single texts or pairs).

    Args:
        model: the model.
        features: its `spanbert_keras.data.glue.TextFeatures`.
        labels: list of str, the label of each class; None for a regression.
        pairs: bool, the model classifies pairs (`text_a`, `text_b`).
    """

    def __init__(self, model, features, labels=None, pairs=False):
        super().__init__(model, features)
        self.labels = None if labels is None else list(labels)
        self.pairs = bool(pairs)
        what = "a value" if labels is None else "the label and its probability"
        inputs = "text_a, text_b -> [CLS] a [SEP] b [SEP]" if pairs else "text -> [CLS] text [SEP]"
        self.descriptions = {"serving_default": f"{inputs} -> {what}"}

    def classify_text(self, text):
        return self._classify(text)

    def classify_pair(self, text_a, text_b):
        return self._classify(text_a, text_b)

    def _classify(self, text_a, text_b=None):
        features = self.features(text_a, text_b)
        logits = self.logits(features)
        if self.labels is None:
            outputs = {"score": logits[:, 0]}
        else:
            outputs = class_outputs(logits, self.labels)
        outputs["truncated"] = features["truncated"]
        return outputs

    def endpoints(self):
        if self.pairs:
            return {"serving_default": (self.classify_pair, [string_spec("text_a"),
                                                             string_spec("text_b")])}
        return {"serving_default": (self.classify_text, [string_spec("text")])}
