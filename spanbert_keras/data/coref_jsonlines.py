"""The authors' coreference jsonlines (their `minimize.py` output), written from word-level documents.

`read_coref` gives word-level documents (`id`, `sentences` of words,
`speakers`, `clusters` of `[start, end]` word indices); the authors'
`coref` code trains on `minimize.py`'s jsonlines instead, one document a
line, in wordpieces cut into segments. `write_coref_jsonlines` writes those
lines, and `read_coref_jsonlines` reads them back to the same documents.

A line holds, in `minimize.py`'s order:

- `doc_key`: the document's `id`;
- `sentences`: the segments, each `[CLS] pieces [SEP]`, the pieces being the
  vocabulary's strings (`##` continuations); the cut is `CorefFeatures`'
  (`data.coref_features`: the authors' `split_into_segments`, at the last
  sentence end that fits, else the last word end);
- `speakers`: the same shape, each piece its word's speaker, `[SPL]` for
  `[CLS]` and `[SEP]`;
- `constituents`, `ner`: `[]` (`minimize.py` writes them empty);
- `clusters`: `[start, end]` indices into the flattened segments
  (`[CLS]` / `[SEP]` counted), from the first piece of a mention's first
  word to the last piece of its last word; clusters that share a mention
  are merged into one (as `minimize.py` merges them), each cluster's
  mentions sorted, the clusters in the order of their first mention;
- `sentence_map`: each subtoken's sentence as `get_sentence_map` counts it:
  a piece its sentence, a `[CLS]` the sentence its segment starts in, a
  `[SEP]` the sentence after its last piece (the next one when the segment
  ends a sentence);
- `subtoken_map`: each subtoken's word; a `[CLS]` the last word of the
  segment before (0 for the first), a `[SEP]` the last word of its segment.

`minimize.py`'s `pronouns` (the first pieces of the words tagged `PRP` in
the CoNLL POS column) is not written: the documents carry no POS tags.
Where `minimize.py` stops (a word of more pieces than a segment holds), the
word is cut across segments, as `CorefFeatures` cuts it for the model; a
word the tokenizer turns into nothing is `[UNK]`. The document's last
sentence always ends (a CoNLL file without the blank line before `#end
document` would leave `minimize.py`'s last `[SEP]` in that sentence). The
pieces are cased, as the package's tokenizer cuts them (`minimize.py`'s
`do_lower_case` false).
"""

import json

import numpy as np
import tensorflow as tf

from spanbert_keras.data.coref_features import CorefFeatures
from spanbert_keras.data.vocabulary import load_vocabulary
from spanbert_keras.files import atomic_write

SPEAKER_OF_SPECIALS = "[SPL]"  # minimize.py's speaker of [CLS] and [SEP]


def minimized_document(document, features):
    """One document as the authors' `minimize.py` writes it (a dict; see the module docstring).

    Args:
        document: a word-level document (`read_coref`): `id`, `sentences`,
            `speakers`, `clusters` (and optionally `where`, for messages).
        features: the `CorefFeatures` that cuts it into segments (its
            vocabulary gives the pieces' strings).

    Raises:
        ValueError: the document has no words, its speakers another shape
            than its sentences, or a mention is not a span of its words.

    Example:

    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    ...                     "Emma", "Wood", "##house", "sang", "."])
    >>> document = {"id": "tc/x/00/x_0001_0", "sentences": [["Emma", "Woodhouse", "."], ["Emma", "sang"]],
    ...             "speakers": [["Mary"] * 3, ["Anne"] * 2], "clusters": [[[0, 1], [3, 3]]]}
    >>> line = minimized_document(document, CorefFeatures(vocab, 6))
    >>> line["sentences"]
    [['[CLS]', 'Emma', 'Wood', '##house', '.', '[SEP]'], ['[CLS]', 'Emma', 'sang', '[SEP]']]
    >>> line["speakers"][1], line["clusters"]
    (['[SPL]', 'Anne', 'Anne', '[SPL]'], [[[1, 3], [7, 7]]])
    >>> line["sentence_map"], line["subtoken_map"]
    ([0, 0, 0, 0, 0, 1, 1, 1, 1, 2], [0, 0, 1, 1, 2, 2, 2, 3, 4, 4])
    """
    where = document.get("where") or document.get("id")
    sentences, speakers = document["sentences"], document["speakers"]
    if [len(s) for s in speakers] != [len(s) for s in sentences]:
        raise ValueError(f"{where}: the speakers have another shape than the sentences.")
    words = [word for sentence in sentences for word in sentence]
    word_speakers = [speaker for row in speakers for speaker in row]
    if not words:
        raise ValueError(f"{where}: document {document.get('id')} has no words.")
    sentence_ids = [index for index, sentence in enumerate(sentences) for _ in sentence]
    out = features(tf.constant(words, tf.string, shape=[len(words)]),
                   tf.constant(sentence_ids, tf.int32, shape=[len(words)]))
    token_ids = out["token_ids"].numpy()
    padding_mask = out["padding_mask"].numpy() > 0
    piece_words = out["piece_words"].numpy()
    piece_segments = out["piece_segments"].numpy()
    piece_sentences = out["sentence_ids"].numpy()
    word_starts, word_ends = out["word_starts"].numpy(), out["word_ends"].numpy()
    tokens = features.vocabulary.tokens
    # minimize.py's sentence_end: the last piece of each sentence (a blank line follows it).
    sentence_end = np.append(piece_sentences[1:] != piece_sentences[:-1], True)
    segments, segment_speakers, sentence_map, subtoken_map = [], [], [], []
    position = np.zeros(len(piece_words), np.int64)  # each piece's index in the flat subtokens
    previous_word, sentence, offset = 0, 0, 0
    for segment in range(len(token_ids)):
        pieces = np.flatnonzero(piece_segments == segment)
        segments.append([tokens[i] for i in token_ids[segment][padding_mask[segment]]])
        segment_speakers.append([SPEAKER_OF_SPECIALS]
                                + [word_speakers[w] for w in piece_words[pieces]]
                                + [SPEAKER_OF_SPECIALS])
        segment_words = [int(w) for w in piece_words[pieces]]
        subtoken_map += [previous_word] + segment_words + [segment_words[-1]]
        previous_word = segment_words[-1]
        sentence_map.append(sentence)
        for piece in pieces:
            sentence_map.append(sentence)
            sentence += int(sentence_end[piece])
        sentence_map.append(sentence)
        position[pieces] = offset + 1 + np.arange(len(pieces))
        offset += len(pieces) + 2
    clusters = []
    for cluster in _merged(_checked_clusters(document["clusters"], len(words), where)):
        clusters.append([[int(position[word_starts[start]]), int(position[word_ends[end]])]
                         for start, end in cluster])
    return {
        "doc_key": document["id"],
        "sentences": segments,
        "speakers": segment_speakers,
        "constituents": [],
        "ner": [],
        "clusters": clusters,
        "sentence_map": sentence_map,
        "subtoken_map": subtoken_map,
    }


def _checked_clusters(clusters, num_words, where):
    """The clusters as lists of `(start, end)` word indices; a mention outside the words refused."""
    checked = []
    for cluster in clusters:
        mentions = []
        for mention in cluster:
            start, end = (int(i) for i in mention)
            if not 0 <= start <= end < num_words:
                raise ValueError(f"{where}: mention [{start}, {end}] is not a span of the "
                                 f"document's {num_words} words.")
            mentions.append((start, end))
        checked.append(mentions)
    return checked


def _merged(clusters):
    """Clusters sharing a mention merged into one (`minimize.py`'s `finalize`), mentions sorted
    and unique, clusters in the order of their first mention, empty ones dropped.

    >>> _merged([[(4, 4), (0, 1)], [(6, 6)], [(4, 4), (9, 9)]])
    [[(0, 1), (4, 4), (9, 9)], [(6, 6)]]
    """
    merged = []  # disjoint sets of mentions
    for cluster in clusters:
        group, apart = set(cluster), []
        for other in merged:
            if other & group:
                group |= other
            else:
                apart.append(other)
        merged = apart + [group]
    return sorted((sorted(c) for c in merged if c), key=lambda mentions: mentions[0])


def write_coref_jsonlines(documents, vocabulary, path, max_segment_length=384):
    """Writes word-level documents as the authors' jsonlines, one `minimized_document` a line.

    Written atomically (nothing is left at `path` on an error); the JSON is
    `json.dumps`' default, as `minimize.py` writes it.

    Args:
        documents: word-level documents (`read_coref`), their ids unique.
        vocabulary: a `Vocabulary`, a list of pieces or a `vocab.txt` path.
        path: the file to write.
        max_segment_length: int >= 3, a segment's pieces with its `[CLS]`
            and `[SEP]` (the authors: 384 for SpanBERT base, 512 for large).

    Returns:
        `path`.

    Raises:
        ValueError: no document, two with one id, or a bad document (see
            `minimized_document`).

    Example:

    >>> import os, tempfile
    >>> from spanbert_keras.data.coref_reader import read_coref_jsonlines
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Emma", "Wood", "##house", "sang"]
    >>> document = {"id": "tc/x/00/x_0001_0", "sentences": [["Emma", "Woodhouse", "sang"]],
    ...             "speakers": [["Mary"] * 3], "clusters": [[[0, 1]]]}
    >>> path = write_coref_jsonlines([document], vocab, os.path.join(tempfile.mkdtemp(), "dev.jsonlines"))
    >>> with open(path) as f:
    ...     print(f.read(), end="")  # doctest: +NORMALIZE_WHITESPACE
    {"doc_key": "tc/x/00/x_0001_0", "sentences": [["[CLS]", "Emma", "Wood", "##house", "sang", "[SEP]"]],
     "speakers": [["[SPL]", "Mary", "Mary", "Mary", "Mary", "[SPL]"]], "constituents": [], "ner": [],
     "clusters": [[[1, 3]]], "sentence_map": [0, 0, 0, 0, 0, 1], "subtoken_map": [0, 0, 1, 1, 2, 2]}
    >>> documents, problems = read_coref_jsonlines(path)
    >>> documents[0]["sentences"], documents[0]["clusters"], problems
    ([['Emma', 'Woodhouse', 'sang']], [[[0, 1]]], [])
    """
    documents = list(documents)
    if not documents:
        raise ValueError(f"No document to write to {path}.")
    seen = {}
    for document in documents:
        key = document["id"]
        if key in seen:
            raise ValueError(f"Document {key} is given twice ({seen[key]}; "
                             f"{document.get('where') or 'again'}); ids must be unique.")
        seen[key] = document.get("where") or "first"
    features = CorefFeatures(load_vocabulary(vocabulary), max_segment_length)

    def write(f):
        for document in documents:
            f.write(json.dumps(minimized_document(document, features)))
            f.write("\n")

    return atomic_write(path, write)
