"""TACRED relation extraction: the reader, the labels, the entity markers and the in-graph features.

`read_tacred(path)` returns `(examples, problems)`. The file is TACRED's JSON
(a list of records) or JSON lines (one record a line), UTF-8 (a BOM is
allowed; other bytes are refused naming the line). An example is a dict:

- `id`: str;
- `tokens`: list of str, the sentence's tokens (TACRED's `token`, PTB tokens
  as distributed: the features convert the brackets);
- `subj_start`, `subj_end`, `obj_start`, `obj_end`: int, the entities' first
  and last token (inclusive, as TACRED);
- `subj_type`, `obj_type`: str, the entities' types (`PERSON`, `CITY`, ...);
- `relation`: str (`no_relation` or `per:title`, ...);
- `where`: str, `"path: record N"` (or `line N`), for messages.

`problems` names each skipped record (missing or mistyped field, a span out
of the sentence or reversed, a duplicate id); with `strict=True` the first
one raises.

Everything below is the authors' fine-tuning (`run_tacred.py` of SpanBERT),
so that a model fine-tuned by it reads the same wordpieces from these
features:

- labels (`relation_labels`): `no_relation` = 0, then the other relations
  by descending frequency in the training set (`Counter.most_common`: ties
  in order of first appearance);
- PTB brackets (`PTB_BRACKETS`): `-LRB- -RRB- -LSB- -RSB- -LCB- -RCB-`
  (any case) become `( ) [ ] { }` before word-piecing;
- markers (`entity_markers`, `assign_marker_pieces`): `SUBJ_START`,
  `SUBJ_END`, `OBJ_START`, `OBJ_END`, then one `SUBJ=TYPE` / `OBJ=TYPE` per
  entity type, in order of first use over the dev set, then the training
  set; the N-th marker is the piece `[unusedN]` (`SUBJ_START` =
  `[unused1]` ... `OBJ_END` = `[unused4]` in every mode). In the default
  "ner" mode each entity's tokens are replaced by ONE type marker
  (`[CLS] ... SUBJ=PERSON ... OBJ=CITY ... [SEP]`); in "text" mode the
  entity text is kept between start / end markers (`SUBJ_START Emma
  SUBJ_END`). A vocabulary without the `[unusedN]` piece a marker needs gets
  an added piece (`[SUBJ=PERSON]`) after its last id;
- packing: `[CLS] pieces [SEP]` cut to the sequence length as the authors
  cut it (the first `sequence_length` pieces: a cut sentence loses its
  final `[SEP]`).
"""

import collections
import os

import tensorflow as tf

from spanbert_keras.data.bad_records import BadRecords
from spanbert_keras.data.features import ragged_strings
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.files import check_text
from spanbert_keras.files import parse_json
from spanbert_keras.metrics.tacred import NO_RELATION

MODES = ("ner", "text")
TEXT_MARKERS = ("SUBJ_START", "SUBJ_END", "OBJ_START", "OBJ_END")
SPAN_KEYS = ("subj_start", "subj_end", "obj_start", "obj_end")
# The authors' `convert_token`: PTB's bracket tokens (compared lower-cased).
PTB_BRACKETS = {"-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{",
                "-rcb-": "}"}


def read_tacred(path, strict=False):
    """Reads a TACRED JSON (list of records) or JSON-lines file.

    Returns:
        `(examples, problems)`, see the module docstring.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not JSON, or not UTF-8 (naming the file and line), or
            (`strict`) the first bad record.

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
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError:
        check_text(path)  # raises ValueError naming the line
        raise
    if text.lstrip().startswith("["):
        records = parse_json(text, path)
        for index, record in enumerate(records):
            yield f"record {index}", record
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        yield f"line {number}", parse_json(line, path, number)


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


def relation_labels(train_examples, negative_label=NO_RELATION):
    """The authors' label ids: `negative_label` first, then by descending training frequency.

    The order of `collections.Counter(...).most_common()` (relations as
    frequent keep the order in which they first appear), as `run_tacred.py`'s
    `get_labels`; `negative_label` is 0 even when it is absent.

    >>> from spanbert_keras.data.tacred import relation_labels
    >>> relation_labels([{"relation": r} for r in
    ...                  ["per:title", "no_relation", "org:founded", "org:founded", "per:age"]])
    ['no_relation', 'org:founded', 'per:title', 'per:age']
    """
    counts = collections.Counter(e["relation"] for e in train_examples)
    return [negative_label] + [r for r, _ in counts.most_common() if r != negative_label]


def entity_markers(*example_sets):
    """Every marker, in the authors' numbering order over `example_sets` (dev first, then train).

    The four start / end markers come first (`run_tacred.py` asks for them
    before any type marker, in every mode), then `SUBJ=TYPE` and
    `OBJ=TYPE` in order of first use (an example's subject before its
    object).

    >>> from spanbert_keras.data.tacred import entity_markers
    >>> dev = [{"subj_type": "PERSON", "obj_type": "CITY"}]
    >>> train = [{"subj_type": "ORGANIZATION", "obj_type": "PERSON"},
    ...          {"subj_type": "PERSON", "obj_type": "CITY"}]
    >>> entity_markers(dev, train)[3:]
    ['OBJ_END', 'SUBJ=PERSON', 'OBJ=CITY', 'SUBJ=ORGANIZATION', 'OBJ=PERSON']
    """
    markers = dict.fromkeys(TEXT_MARKERS)
    for examples in example_sets:
        for example in examples:
            markers.setdefault(f"SUBJ={example['subj_type']}", None)
            markers.setdefault(f"OBJ={example['obj_type']}", None)
    return list(markers)


def marker_used(marker, mode):
    """Whether the features of `mode` ever write `marker` ("ner": types; "text": start / end)."""
    _check_mode(mode)
    return (marker in TEXT_MARKERS) == (mode == "text")


def assign_marker_pieces(markers, vocabulary, mode=None):
    """Maps the N-th marker onto the piece `[unusedN]` (N from 1), as the authors do.

    A marker whose `[unusedN]` is not in the vocabulary gets a new piece
    `[MARKER]`, to be appended to the vocabulary (and to the encoder's
    embedding table) - only if `mode` uses it (all markers when `mode` is
    None); a marker `mode` never writes is then left out.

    Args:
        markers: list of str, in the authors' order (`entity_markers`).
        vocabulary: a `Vocabulary`.
        mode: "ner", "text" or None.

    Returns:
        `(pieces, added)`: dict marker -> wordpiece, and the list of new
        wordpieces (in id order after the vocabulary's last id).

    Example:

    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> vocab = Vocabulary(["[PAD]", "[unused1]", "[unused2]", "[UNK]", "[CLS]", "[SEP]",
    ...                     "[MASK]"])
    >>> pieces, added = assign_marker_pieces(
    ...     ["SUBJ_START", "SUBJ_END", "OBJ_START", "OBJ_END", "SUBJ=PERSON"], vocab, "ner")
    >>> pieces
    {'SUBJ_START': '[unused1]', 'SUBJ_END': '[unused2]', 'SUBJ=PERSON': '[SUBJ=PERSON]'}
    >>> added
    ['[SUBJ=PERSON]']
    """
    if mode is not None:
        _check_mode(mode)
    known = set(vocabulary.tokens)
    pieces, added = {}, []
    for number, marker in enumerate(markers, 1):
        unused = f"[unused{number}]"
        if unused in known:
            pieces[marker] = unused
        elif mode is None or marker_used(marker, mode):
            piece = f"[{marker}]"
            if piece in known:
                raise ValueError(f"The vocabulary already holds the marker piece {piece!r}.")
            pieces[marker] = piece
            added.append(piece)
    return pieces, added


def _check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")


class RelationFeatures(tf.Module):
    """TACRED examples (as tensors) -> the encoder's inputs, in TensorFlow ops.

    The authors' `convert_examples_to_features` (see the module docstring):
    PTB brackets converted, each token word-pieced, the markers of `mode`
    inserted, `[CLS] ... [SEP]` cut to `sequence_length` pieces. The same
    computation in `tf.data` and in the exported SavedModel.

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
        A dict: `token_ids`, `segment_ids` (zeros), `padding_mask` int32
        `[B, L]`, `truncated` bool `[B]` (the sentence was cut: more than
        `L` pieces with `[CLS]` and `[SEP]`) and `entities_truncated` bool
        `[B]` (part of an entity or its markers was cut away).

    Example:

    >>> import tensorflow as tf
    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ...                    + [f"[unused{n}]" for n in range(1, 7)]
    ...                    + ["Emma", "lives", "at", "Hart", "##field", "("])
    >>> pieces, _ = assign_marker_pieces(
    ...     entity_markers([{"subj_type": "PERSON", "obj_type": "CITY"}]), vocab)
    >>> features = RelationFeatures(vocab, pieces, "ner", sequence_length=8)
    >>> out = features(tf.ragged.constant([["Emma", "-LRB-", "lives", "at", "Hartfield"]]),
    ...                [0], [0], [4], [4], ["PERSON"], ["CITY"])
    >>> [vocab.tokens[i] for i in out["token_ids"].numpy()[0]]
    ['[CLS]', '[unused5]', '(', 'lives', 'at', '[unused6]', '[SEP]', '[PAD]']

    References:
        Joshi et al., "SpanBERT", TACL 2020, section 4.3 and the authors'
        `code/run_tacred.py`.
    """

    def __init__(self, vocabulary, marker_pieces, mode="ner", sequence_length=128,
                 name="relation_features"):
        super().__init__(name=name)
        _check_mode(mode)
        self.vocabulary = vocabulary
        self.mode = mode
        self.sequence_length = int(sequence_length)
        if self.sequence_length < 2:
            raise ValueError(f"`sequence_length` must be at least 2. Received: {sequence_length!r}")
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
        self._brackets = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(PTB_BRACKETS), tf.string),
                tf.constant(list(PTB_BRACKETS.values()), tf.string),
            ),
            default_value="",
        )

    def convert_brackets(self, words):
        """PTB bracket tokens -> `( ) [ ] { }` (any case, as the authors' `convert_token`)."""
        converted = self._brackets.lookup(tf.strings.lower(words))
        return tf.where(tf.equal(converted, ""), words, converted)

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
        # [N, (P)]: a token the tokenizer turns into nothing adds nothing, as the authors'.
        pieces = self.tokenizer.tokenize(self.convert_brackets(tokens.flat_values))
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
        packed = _authors_packing(tokens.with_flat_values(per_token).merge_dims(1, 2),
                                  self.sequence_length, self.vocabulary)
        # Body piece i sits at position i + 1 ([CLS] first): kept while i + 1 < L.
        packed["entities_truncated"] = last_entity_piece > self.sequence_length - 1
        return packed


def _authors_packing(body, sequence_length, vocabulary):
    """`[CLS] body [SEP]`, its first `sequence_length` ids (a cut row keeps no [SEP]), padded."""
    ends = tf.ones([body.nrows(), 1], tf.int32)
    full = tf.concat([tf.RaggedTensor.from_tensor(ends * vocabulary.cls_id),
                      tf.cast(body, tf.int32),
                      tf.RaggedTensor.from_tensor(ends * vocabulary.sep_id)], axis=1)
    token_ids = full.to_tensor(default_value=vocabulary.pad_id, shape=[None, sequence_length])
    lengths = full.row_lengths()
    mask = tf.sequence_mask(tf.minimum(lengths, sequence_length), sequence_length)
    return {
        "token_ids": token_ids,
        "segment_ids": tf.zeros_like(token_ids),
        "padding_mask": tf.cast(mask, tf.int32),
        "truncated": lengths > sequence_length,
    }


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
