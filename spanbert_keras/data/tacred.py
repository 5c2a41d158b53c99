"""TACRED relation extraction: the reader, the entity markers and the in-graph features.

`read_tacred(path)` returns `(examples, problems)`. The file is TACRED's JSON
(a list of records) or JSON lines (one record a line). An example is a dict:

- `id`: str;
- `tokens`: list of str, the sentence's tokens (TACRED's `token`);
- `subj_start`, `subj_end`, `obj_start`, `obj_end`: int, the entities' first
  and last token (inclusive, as TACRED);
- `subj_type`, `obj_type`: str, the entities' types (`PERSON`, `CITY`, ...);
- `relation`: str (`no_relation` or `per:title`, ...);
- `where`: str, `"path: record N"` (or `line N`), for messages.

`problems` names each skipped record (missing or mistyped field, a span out
of the sentence or reversed); with `strict=True` the first one raises.

Entity handling is the authors' fine-tuning's (`run_tacred.py`): in the
default "ner" mode each entity's tokens are replaced by ONE marker naming its
role and type (`SUBJ=PERSON`, `OBJ=CITY`); in "text" mode the entity text is
kept between start / end markers (`SUBJ_START ... SUBJ_END`). Markers are
mapped onto the vocabulary's `[unusedN]` pieces in order of first use over
the training set (`assign_marker_pieces`); a vocabulary without enough of
them gets added pieces (`[SUBJ=PERSON]`) after its last id. The model then
classifies `[CLS] tokens with markers [SEP]` from [CLS].
"""

import json
import os
import re

import tensorflow as tf

from spanbert_keras.data.bad_records import BadRecords
from spanbert_keras.data.features import pack_segments
from spanbert_keras.data.features import ragged_strings
from spanbert_keras.data.features import word_pieces
from spanbert_keras.data.tokenizer import SpanBertTokenizer

MODES = ("ner", "text")
TEXT_MARKERS = ("SUBJ_START", "SUBJ_END", "OBJ_START", "OBJ_END")
SPAN_KEYS = ("subj_start", "subj_end", "obj_start", "obj_end")
_UNUSED = re.compile(r"^\[unused(\d+)\]$")


def read_tacred(path, strict=False):
    """Reads a TACRED JSON (list of records) or JSON-lines file.

    Returns:
        `(examples, problems)`, see the module docstring.

    Example:

    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "dev.json")
    >>> record = {"id": "r1", "token": ["Emma", "lives", "at", "Hartfield", "."],
    ...           "subj_start": 0, "subj_end": 0, "obj_start": 3, "obj_end": 3,
    ...           "subj_type": "PERSON", "obj_type": "LOCATION",
    ...           "relation": "per:residence"}
    >>> with open(path, "w") as f:
    ...     json.dump([record, dict(record, id="r2", obj_end=5)], f)
    >>> examples, problems = read_tacred(path)
    >>> [e["id"] for e in examples], problems[0].split(": ", 1)[1]
    (['r1'], 'record 1: obj span [3, 5] is outside the 5 tokens')
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"TACRED file not found: {path}")
    problems = BadRecords(path, strict)
    examples, ids = [], set()
    for where, record in _records(path):
        example = _example(record, where, problems)
        if example is None:
            continue
        if example["id"] in ids:
            problems.add(where, f"duplicate id {example['id']!r}")
            continue
        ids.add(example["id"])
        example["where"] = f"{path}: {where}"
        examples.append(example)
    return examples, problems.lines


def _records(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: line {error.lineno}: not valid JSON: {error.msg}") from None
        for index, record in enumerate(records):
            yield f"record {index}", record
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: line {number}: not valid JSON: {error.msg}") from None
        yield f"line {number}", record


def _example(record, where, problems):
    if not isinstance(record, dict):
        return problems.add(where, f"not a JSON object: {str(record)[:40]!r}")
    missing = [
        k for k in ("id", "token", *SPAN_KEYS, "subj_type", "obj_type", "relation")
        if k not in record
    ]
    if missing:
        return problems.add(where, f"missing field(s) {missing}")
    tokens = record["token"]
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        return problems.add(where, "'token' must be a non-empty list of strings")
    for key in SPAN_KEYS:
        if isinstance(record[key], bool) or not isinstance(record[key], int):
            return problems.add(where, f"{key!r} must be an integer, got {record[key]!r}")
    for key in ("id", "subj_type", "obj_type", "relation"):
        if not isinstance(record[key], str) or not record[key].strip():
            return problems.add(where, f"{key!r} must be a non-empty string")
    for role in ("subj", "obj"):
        start, end = record[f"{role}_start"], record[f"{role}_end"]
        if not 0 <= start <= end < len(tokens):
            return problems.add(
                where, f"{role} span [{start}, {end}] is outside the {len(tokens)} tokens"
                if start <= end else f"{role} span [{start}, {end}] ends before it starts"
            )
    example = {"id": record["id"], "tokens": list(tokens)}
    example.update({k: record[k] for k in SPAN_KEYS})
    example.update({k: record[k] for k in ("subj_type", "obj_type", "relation")})
    return example


def entity_markers(examples, mode="ner"):
    """The markers `mode` uses, in order of first use over `examples`.

    "ner": `SUBJ=TYPE` / `OBJ=TYPE` per example (subject first); "text": the
    four start / end markers.

    >>> from spanbert_keras.data.tacred import entity_markers
    >>> entity_markers([{"subj_type": "PERSON", "obj_type": "CITY"},
    ...                 {"subj_type": "ORGANIZATION", "obj_type": "PERSON"}])
    ['SUBJ=PERSON', 'OBJ=CITY', 'SUBJ=ORGANIZATION', 'OBJ=PERSON']
    """
    _check_mode(mode)
    if mode == "text":
        return list(TEXT_MARKERS)
    markers = {}
    for example in examples:
        markers.setdefault(f"SUBJ={example['subj_type']}", None)
        markers.setdefault(f"OBJ={example['obj_type']}", None)
    return list(markers)


def assign_marker_pieces(markers, vocabulary):
    """Maps each marker onto a vocabulary piece: its `[unusedN]` pieces in order of N.

    Markers beyond the `[unusedN]` pieces get new pieces `[MARKER]`, to be
    appended to the vocabulary (and to the encoder's embedding table).

    Args:
        markers: list of str, in order of first use.
        vocabulary: a `Vocabulary`.

    Returns:
        `(pieces, added)`: dict marker -> wordpiece, and the list of new
        wordpieces (in id order after the vocabulary's last id).

    Example:

    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> vocab = Vocabulary(["[PAD]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    >>> assign_marker_pieces(["SUBJ=PERSON", "OBJ=CITY"], vocab)
    ({'SUBJ=PERSON': '[unused1]', 'OBJ=CITY': '[OBJ=CITY]'}, ['[OBJ=CITY]'])
    """
    unused = sorted(
        (int(m.group(1)), token)
        for token in vocabulary.tokens
        if (m := _UNUSED.match(token))
    )
    pieces, added = {}, []
    for index, marker in enumerate(markers):
        if index < len(unused):
            pieces[marker] = unused[index][1]
        else:
            piece = f"[{marker}]"
            if piece in vocabulary.tokens:
                raise ValueError(f"The vocabulary already holds the marker piece {piece!r}.")
            pieces[marker] = piece
            added.append(piece)
    return pieces, added


def _check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")


class RelationFeatures(tf.Module):
    """TACRED examples (as tensors) -> the encoder's inputs, in TensorFlow ops.

    The same computation in `tf.data` and in the exported SavedModel.

    Args:
        vocabulary: the `Vocabulary` holding every marker piece (added
            pieces included).
        marker_pieces: dict marker -> wordpiece (`assign_marker_pieces`).
        mode: "ner" or "text".
        sequence_length: int, the packed length.

    Call arguments:
        tokens: string ragged `[B, (T)]` (or dense `[B, T]` padded with "").
        subj_start, subj_end, obj_start, obj_end: int `[B]`, inclusive spans.
        subj_type, obj_type: string `[B]` ("ner" mode; a type without a
            marker becomes `[UNK]`).

    Returns:
        A dict: `token_ids`, `segment_ids`, `padding_mask` int32 `[B, L]`,
        `truncated` bool `[B]` (the sentence was cut) and
        `entities_truncated` bool `[B]` (part of an entity or its markers was
        cut away).

    Example:

    >>> import tensorflow as tf
    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused1]",
    ...                     "[unused2]", "Emma", "lives", "at", "Hart", "##field"])
    >>> pieces, _ = assign_marker_pieces(["SUBJ=PERSON", "OBJ=CITY"], vocab)
    >>> features = RelationFeatures(vocab, pieces, "ner", sequence_length=8)
    >>> out = features(tf.ragged.constant([["Emma", "lives", "at", "Hartfield"]]),
    ...                [0], [0], [3], [3], ["PERSON"], ["CITY"])
    >>> out["token_ids"].numpy().tolist()
    [[2, 5, 8, 9, 6, 3, 0, 0]]
    """

    def __init__(self, vocabulary, marker_pieces, mode="ner", sequence_length=128,
                 name="relation_features"):
        super().__init__(name=name)
        _check_mode(mode)
        self.vocabulary = vocabulary
        self.mode = mode
        self.sequence_length = int(sequence_length)
        self.tokenizer = SpanBertTokenizer(vocabulary)
        missing = [m for m in TEXT_MARKERS if m not in marker_pieces] if mode == "text" else []
        if missing:
            raise ValueError(f"`marker_pieces` lacks the text-mode markers {missing}.")
        names = sorted(marker_pieces)
        self.marker_ids = {m: vocabulary.token_to_id(marker_pieces[m]) for m in names}
        self._markers = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(names or [""], tf.string),
                tf.constant([self.marker_ids[m] for m in names] or [vocabulary.unk_id], tf.int32),
            ),
            default_value=vocabulary.unk_id,
        )

    def __call__(self, tokens, subj_start, subj_end, obj_start, obj_end, subj_type=None,
                 obj_type=None):
        if not isinstance(tokens, tf.RaggedTensor):
            tokens = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(tokens, tf.string), padding="")
        spans = [tf.cast(tf.reshape(s, [-1]), tf.int32) for s in (subj_start, subj_end, obj_start, obj_end)]
        lengths = tf.cast(tokens.row_lengths(), tf.int32)
        checks = [
            tf.debugging.assert_equal(
                (0 <= spans[0]) & (spans[0] <= spans[1]) & (spans[1] < lengths)
                & (0 <= spans[2]) & (spans[2] <= spans[3]) & (spans[3] < lengths),
                True,
                message="each entity span must satisfy 0 <= start <= end < number of tokens",
            )
        ]
        with tf.control_dependencies(checks):
            rows = tf.identity(tokens.value_rowids())
        index = tf.cast(tf.ragged.range(tokens.row_lengths()).flat_values, tf.int32)
        s0, s1, o0, o1 = (tf.gather(s, rows) for s in spans)
        in_subj = (index >= s0) & (index <= s1)
        in_obj = (index >= o0) & (index <= o1) & ~in_subj
        pieces = word_pieces(self.tokenizer, tokens).values  # [N, (P)] per token
        if self.mode == "ner":
            subj_marker = self._markers.lookup(tf.strings.join(["SUBJ=", subj_type]))
            obj_marker = self._markers.lookup(tf.strings.join(["OBJ=", obj_type]))
            parts = [
                _optional(index == s0, tf.gather(subj_marker, rows)),
                _optional(index == o0, tf.gather(obj_marker, rows)),
                tf.ragged.boolean_mask(pieces, _expand(~(in_subj | in_obj), pieces)),
            ]
        else:
            ids = {m: tf.fill(tf.shape(index), self.marker_ids[m]) for m in TEXT_MARKERS}
            parts = [
                _optional(index == s0, ids["SUBJ_START"]),
                _optional(index == o0, ids["OBJ_START"]),
                pieces,
                _optional(index == s1, ids["SUBJ_END"]),
                _optional(index == o1, ids["OBJ_END"]),
            ]
        per_token = tf.concat(parts, axis=1)  # [N, (pieces of the token)]
        counts = tf.cast(per_token.row_lengths(), tf.int32)
        ends = tokens.with_flat_values(counts)
        ends = tf.cumsum(ends.to_tensor(), axis=1)  # [B, T]: end of each token's pieces
        in_entity = tokens.with_flat_values(tf.cast(in_subj | in_obj, tf.int32)).to_tensor()
        last_entity_piece = tf.reduce_max(ends * in_entity, axis=1)
        packed = pack_segments(
            tokens.with_flat_values(per_token).merge_dims(1, 2),
            self.sequence_length,
            self.vocabulary,
        )
        packed["entities_truncated"] = last_entity_piece > self.sequence_length - 2
        return packed


def _optional(flag, ids):
    """A ragged `[N, (0 or 1)]` tensor: `ids[i]` where `flag[i]`, else nothing."""
    return tf.RaggedTensor.from_row_lengths(
        tf.boolean_mask(ids, flag), tf.cast(flag, tf.int64)
    )


def _expand(flags, pieces):
    """The per-row `flags` repeated over each row of ragged `pieces`."""
    return pieces.with_flat_values(tf.repeat(flags, pieces.row_lengths()))


def example_tensors(examples):
    """The `RelationFeatures` arguments of a list of examples, as tensors."""
    return {
        "tokens": ragged_strings([e["tokens"] for e in examples]),
        **{k: tf.constant([e[k] for e in examples], tf.int32, shape=[len(examples)])
           for k in SPAN_KEYS},
        **{k: tf.constant([e[k] for e in examples], tf.string, shape=[len(examples)])
           for k in ("subj_type", "obj_type")},
    }
