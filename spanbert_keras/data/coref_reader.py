"""Coreference data: the CoNLL-2012 and jsonlines readers, and the CoNLL prediction writer.

`read_coref(path)` returns `(documents, problems)`; the format is told by
the content (a file whose first non-blank character is `{` is jsonlines,
else CoNLL-2012). Both readers give the same word-level document, a dict:

- `id`: str, the document key as the authors form it: CoNLL
  `f"{name}_{int(part)}"` (`bc/cctv/00/cctv_0001_0`), jsonlines its
  `doc_key`;
- `genre`: str, `id[:2]` (the authors' rule: `bc`, `nw`, ...);
- `sentences`: list of sentences, each a list of words (str);
- `speakers`: the same shape, the speaker of each word (str);
- `clusters`: list of clusters, each a list of `[start, end]` word indices
  into the document's words counted over all its sentences (inclusive);
  a cluster's mentions are sorted and unique, the clusters are in the order
  of their first mention;
- `where`: str, `"path: line N"` (the `#begin document` line, or the JSON
  line), for messages.

CoNLL-2012 (`*_conll`: OntoNotes `v4_gold_conll`, or another corpus in the
same layout with placeholder columns such as `_`): `#begin document (NAME);
part NNN` ... `#end document`, one token a line, its columns separated by
spaces or tabs: the document name, the part number, the word's index in its
sentence, the word, then annotation columns, the coreference column last. A
blank line ends a sentence; other lines starting with `#` are comments.
Each part is its own document. The coreference field is `-` or `_` (none),
else brackets, read left to right: `(7` opens a mention of cluster 7, `7)`
closes the one of cluster 7 opened last (a stack per cluster, as the
reference scorer keeps), `(7)` is a one-word mention; several are joined by
`|` (`(7|(12)|3)`; `(1(2` without `|` is read too, as the scorer reads it).
The speaker is column 9 when a line has more than 10 columns, else `-`.
Words are normalized as the authors' `minimize.py` does (`/.` and `/?`
become `.` and `?`), so that both formats give the same words.

jsonlines (the authors' `minimize.py` output), one document a line:
`doc_key`, `sentences` (segments of subtokens, each `[CLS] ... [SEP]`),
`speakers` (the same shape), `clusters` (`[start, end]` subtoken indices
into the flattened segments, inclusive), `sentence_map` and `subtoken_map`
(the sentence and the word of each subtoken); other keys are ignored. The
`[CLS]` / `[SEP]` at segment edges are dropped; a word is the subtokens with
one `subtoken_map` value, its text their concatenation with the `##` of
continuation pieces removed, its speaker and sentence its first subtoken's;
a mention keeps the words of the subtokens it covers.

`problems` are lines `"path: line N: message"`; with `strict=True` the first
one raises `ValueError`. A closing bracket with no open mention of its
cluster, a mention still open at `#end document` and a malformed
coreference field are ignored (the rest of the document is read); a
document that never ends (no `#end document` before the next `#begin
document` or the end of the file), a malformed `#begin document` line, a
token line with fewer than 5 columns or naming another document or part
than its `#begin document`, a document read before under the same id and a
document without words are skipped; a token line or `#end document` outside
any document is ignored. A jsonlines line that is not a JSON object, or
whose fields are missing, mistyped or inconsistent (lengths of
`speakers`, `sentence_map`, `subtoken_map`; a cluster index outside the
subtokens), is skipped; a mention covering only `[CLS]` / `[SEP]` is
dropped. A file that is not UTF-8 raises `ValueError` naming the line.

`write_conll_predictions` writes predicted clusters into a copy of a CoNLL
file (the response the reference scorer reads beside the key) and
`cluster_marks` gives the coreference column of each word.
"""

import json
import operator
import os
import re

from spanbert_keras.data.bad_records import BadRecords
from spanbert_keras.files import atomic_write
from spanbert_keras.files import check_outside_inputs
from spanbert_keras.files import check_text

BEGIN = "#begin document"
END = "#end document"
BEGIN_DOCUMENT = re.compile(r"#begin document \((.*)\); part ([0-9]+)\s*$")
NO_MARK = ("-", "_")
MIN_COLUMNS = 5  # document, part, word index, word, ..., coreference
SPEAKER_COLUMN = 9  # OntoNotes; read from lines of more than 10 columns
JSONLINES_FIELDS = ("doc_key", "sentences", "speakers", "clusters", "sentence_map",
                    "subtoken_map")
# The fields of a line: split on ASCII whitespace only (a no-break space stays in its word).
_FIELD = re.compile(r"[^ \t\n\r\f\v]+")
_LAST_FIELD = re.compile(r"[^ \t\n\r\f\v]+(?=[ \t\n\r\f\v]*$)")
_MARKS = re.compile(r"(?:\([0-9]+\)|\([0-9]+|[0-9]+\))+")
_MARK = re.compile(r"\(([0-9]+)\)|\(([0-9]+)|([0-9]+)\)")
_NUMBER = re.compile(r"[0-9]+")
# minimize.py's `normalize_word` (outside Arabic).
_NORMALIZED = {"/.": ".", "/?": "?"}


def read_coref(path, strict=False):
    """Reads a coreference file, CoNLL-2012 or jsonlines, told by its content.

    Args:
        path: the file.
        strict: bool, raise on the first problem.

    Returns:
        `(documents, problems)`, see the module docstring.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not UTF-8 (naming the line) or holds no
            text, or (`strict`) the first problem.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "dev.english.v4_gold_conll")
    >>> with open(path, "w") as f:
    ...     _ = f.write("#begin document (nw/x/00/x_0001); part 000\\n"
    ...                 "nw/x/00/x_0001 0 0 Emma    NNP (NP* - - - Mary (PERSON) (0\\n"
    ...                 "nw/x/00/x_0001 0 1 Woodhouse NNP *) - - - Mary * 0)\\n"
    ...                 "nw/x/00/x_0001 0 2 smiled  VBD (VP*) - - - Mary * -\\n"
    ...                 "\\n"
    ...                 "nw/x/00/x_0001 0 0 She     PRP (NP*) - - - Mary * (0)\\n"
    ...                 "nw/x/00/x_0001 0 1 laughed VBD (VP*) - - - Mary * 2)\\n"
    ...                 "#end document\\n")
    >>> documents, problems = read_coref(path)
    >>> document = documents[0]
    >>> document["id"], document["genre"], document["sentences"]
    ('nw/x/00/x_0001_0', 'nw', [['Emma', 'Woodhouse', 'smiled'], ['She', 'laughed']])
    >>> document["speakers"][1], document["clusters"]
    (['Mary', 'Mary'], [[[0, 1], [3, 3]]])
    >>> problems[0].split(": ", 1)[1]
    "line 7: closing bracket '2)' with no open mention of cluster 2; ignored"
    """
    path = _existing(path)
    check_text(path)  # not UTF-8 (naming the line) or nothing but whitespace: refused
    if is_jsonlines(path):
        return _read_jsonlines(path, strict)
    return _read_conll_2012(path, strict)


def read_conll_2012(path, strict=False):
    """Reads a CoNLL-2012 file (`*_conll`); `(documents, problems)` as `read_coref`."""
    path = _existing(path)
    check_text(path)
    return _read_conll_2012(path, strict)


def read_coref_jsonlines(path, strict=False):
    """Reads the authors' jsonlines (`minimize.py`); `(documents, problems)` as `read_coref`.

    Example:

    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "dev.english.384.jsonlines")
    >>> record = {"doc_key": "nw/x/00/x_0001_0",
    ...           "sentences": [["[CLS]", "Emma", "Wood", "##house", "smiled", "[SEP]"]],
    ...           "speakers": [["[SPL]", "Mary", "Mary", "Mary", "Mary", "[SPL]"]],
    ...           "clusters": [[[1, 3]]], "sentence_map": [0, 0, 0, 0, 0, 1],
    ...           "subtoken_map": [0, 0, 1, 1, 2, 2], "pronouns": []}
    >>> with open(path, "w") as f:
    ...     _ = f.write(json.dumps(record) + "\\n")
    >>> documents, problems = read_coref_jsonlines(path)
    >>> documents[0]["sentences"], documents[0]["clusters"], problems
    ([['Emma', 'Woodhouse', 'smiled']], [[[0, 1]]], [])
    """
    path = _existing(path)
    check_text(path)
    return _read_jsonlines(path, strict)


def _existing(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Coreference file not found: {path}")
    return path


def is_jsonlines(path):
    """Whether a coreference file is jsonlines: its first non-blank character is `{`."""
    return _first_character(path) == "{"


def _first_character(path):
    """The file's first non-whitespace character (after a BOM)."""
    with open(path, encoding="utf-8-sig") as f:
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                return ""
            text = chunk.lstrip()
            if text:
                return text[0]


def _lines(path, keep_bom=False):
    """`(number, line)` of each line, streamed; a leading BOM removed, line ends kept."""
    # Lines end at "\n" only (as the reference scorer reads them); "\r\n" keeps its "\r".
    with open(path, encoding="utf-8", newline="\n") as f:
        for number, line in enumerate(f, 1):
            if number == 1 and not keep_bom and line.startswith("\ufeff"):
                line = line[1:]
            yield number, line


def coreference_marks(field):
    """The brackets of one coreference field, in order: `(kind, cluster id)`, or None if malformed.

    `kind` is `"open"`, `"close"` or `"word"` (a one-word mention).

    Example:

    >>> coreference_marks("(7|(12)|3)")
    [('open', 7), ('word', 12), ('close', 3)]
    >>> coreference_marks("-"), coreference_marks("(1(2"), coreference_marks("7((")
    ([], [('open', 1), ('open', 2)], None)
    """
    if field in NO_MARK:
        return []
    marks = []
    for part in field.split("|"):
        if not _MARKS.fullmatch(part):
            return None
        for word, opening, closing in _MARK.findall(part):
            if word:
                marks.append(("word", int(word)))
            elif opening:
                marks.append(("open", int(opening)))
            else:
                marks.append(("close", int(closing)))
    return marks


class _Document:
    """One CoNLL document being read."""

    def __init__(self, name, part, line):
        self.name = name
        self.part = int(part)
        self.id = f"{name}_{self.part}"
        self.line = line
        self.skipped = False
        self.sentences = []
        self.speakers = []
        self.words = []
        self.sentence_speakers = []
        self.num_words = 0
        self.stacks = {}  # cluster id -> [(start word, line), ...]
        self.mentions = {}  # cluster id -> [(start, end), ...]

    def end_sentence(self):
        if self.words:
            self.sentences.append(self.words)
            self.speakers.append(self.sentence_speakers)
            self.words, self.sentence_speakers = [], []


def _read_conll_2012(path, strict):
    problems = BadRecords(path, strict)
    documents, seen = [], {}
    document = None
    for number, line in _lines(path):
        if line.startswith(BEGIN):
            if document is not None:
                _never_ends(document, f"line {number} (#begin document)", problems)
            document = _begin(line, number, seen, problems)
        elif line.startswith(END):
            if document is None:
                problems.add(f"line {number}", "#end document outside any document; ignored")
                continue
            finished = _finish(document, problems)
            if finished is not None:
                finished["where"] = f"{path}: line {document.line}"
                documents.append(finished)
            document = None
        elif line.startswith("#"):
            continue  # a comment
        else:
            columns = _FIELD.findall(line)
            if not columns:
                if document is not None:
                    document.end_sentence()
            elif document is None:
                problems.add(f"line {number}", "token line outside any document (before "
                                               "#begin document or after #end document); "
                                               "ignored")
            elif not document.skipped:
                _token(document, columns, number, problems)
    if document is not None:
        _never_ends(document, "the end of the file", problems)
    return documents, problems.lines


def _begin(line, number, seen, problems):
    match = BEGIN_DOCUMENT.match(line.rstrip("\r\n"))
    if match is None:
        problems.add(f"line {number}", f"malformed {line.strip()!r} (expected '#begin document "
                                       "(NAME); part NNN'); the document is skipped")
        document = _Document("?", 0, number)
        document.skipped = True
        return document
    document = _Document(match.group(1), match.group(2), number)
    if document.id in seen:
        problems.add(f"line {number}", f"document {document.id} was read before (line "
                                       f"{seen[document.id]}); skipped")
        document.skipped = True
    else:
        seen[document.id] = number
    return document


def _never_ends(document, before, problems):
    if not document.skipped:
        problems.add(f"line {document.line}", f"document {document.id} never ends (no #end "
                                              f"document before {before}); skipped")


def _skip(document, number, message, problems):
    document.skipped = True
    problems.add(f"line {number}", f"{message}; document {document.id} skipped")


def _token(document, columns, number, problems):
    if len(columns) < MIN_COLUMNS:
        return _skip(document, number, f"{len(columns)} column(s), expected at least "
                                       f"{MIN_COLUMNS} (document, part, word index, word, ..., "
                                       "coreference)", problems)
    if (columns[0] != document.name or not _NUMBER.fullmatch(columns[1])
            or int(columns[1]) != document.part):
        return _skip(document, number, f"the line names document {columns[0]!r} part "
                                       f"{columns[1]!r}, not its #begin document's "
                                       f"({document.name!r} part {document.part})", problems)
    word = columns[3]
    document.words.append(_NORMALIZED.get(word, word))
    document.sentence_speakers.append(columns[SPEAKER_COLUMN] if len(columns) > 10 else "-")
    index = document.num_words
    document.num_words += 1
    field = columns[-1]
    marks = coreference_marks(field)
    if marks is None:
        problems.add(f"line {number}", f"malformed coreference field {field!r} (expected - or "
                                       "_, or (ID, ID) and (ID) joined by |); ignored")
        return
    for kind, cluster in marks:
        if kind == "word":
            document.mentions.setdefault(cluster, []).append((index, index))
        elif kind == "open":
            document.stacks.setdefault(cluster, []).append((index, number))
        elif document.stacks.get(cluster):
            start, _ = document.stacks[cluster].pop()
            document.mentions.setdefault(cluster, []).append((start, index))
        else:
            problems.add(f"line {number}", f"closing bracket '{cluster})' with no open mention "
                                           f"of cluster {cluster}; ignored")


def _finish(document, problems):
    """The word-level document at `#end document`, or None when it is skipped."""
    if document.skipped:
        return None
    document.end_sentence()
    for cluster, stack in document.stacks.items():
        for _, line in stack:
            problems.add(f"line {line}", f"mention of cluster {cluster} opened here is still "
                                         "open at #end document; ignored")
    if not document.num_words:
        problems.add(f"line {document.line}", f"document {document.id} has no words; skipped")
        return None
    return _document(document.id, document.sentences, document.speakers,
                     document.mentions.values())


def _document(key, sentences, speakers, clusters):
    return {
        "id": key,
        "genre": key[:2],
        "sentences": sentences,
        "speakers": speakers,
        "clusters": normalized_clusters(clusters),
        "where": None,
    }


def normalized_clusters(clusters):
    """Clusters as the documents hold them: mentions `[start, end]` sorted and unique, clusters
    in the order of their first mention, empty clusters dropped.

    >>> normalized_clusters([[(9, 9), (2, 4), (9, 9)], [(0, 1)], []])
    [[[0, 1]], [[2, 4], [9, 9]]]
    """
    unique = [sorted({(int(start), int(end)) for start, end in mentions})
              for mentions in clusters]
    unique = sorted((mentions for mentions in unique if mentions), key=lambda m: m[0])
    return [[[start, end] for start, end in mentions] for mentions in unique]


class _BadRecord(Exception):
    """A jsonlines record that cannot be read (skipped)."""


def _read_jsonlines(path, strict):
    problems = BadRecords(path, strict)
    documents, seen = [], {}
    for number, line in _lines(path):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            problems.add(where, f"not valid JSON ({error.msg}); skipped")
            continue
        except RecursionError:
            problems.add(where, "JSON nested too deeply to read; skipped")
            continue
        try:
            document, dropped = _jsonlines_document(record)
        except _BadRecord as error:
            problems.add(where, f"{error}; skipped")
            continue
        for message in dropped:
            problems.add(where, message)
        if document["id"] in seen:
            problems.add(where, f"document {document['id']} was read before (line "
                                f"{seen[document['id']]}); skipped")
            continue
        seen[document["id"]] = number
        document["where"] = f"{path}: {where}"
        documents.append(document)
    return documents, problems.lines


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _jsonlines_document(record):
    """`(document, messages of dropped mentions)`; raises `_BadRecord`."""
    if not isinstance(record, dict):
        raise _BadRecord(f"not a JSON object: {json.dumps(record)[:40]!r}")
    missing = [k for k in JSONLINES_FIELDS if k not in record]
    if missing:
        raise _BadRecord(f"lacks the field(s) {', '.join(missing)}")
    key = record["doc_key"]
    if not isinstance(key, str) or not key:
        raise _BadRecord(f"doc_key is not a non-empty string: {key!r}")
    segments, speakers = record["sentences"], record["speakers"]
    for name, value in (("sentences", segments), ("speakers", speakers)):
        if not isinstance(value, list) or not all(
                isinstance(s, list) and all(isinstance(t, str) for t in s) for s in value):
            raise _BadRecord(f"{key}: {name} is not a list of lists of strings")
    if [len(s) for s in segments] != [len(s) for s in speakers]:
        raise _BadRecord(f"{key}: speakers has another shape than sentences")
    subtokens = [t for segment in segments for t in segment]
    subtoken_speakers = [s for segment in speakers for s in segment]
    num = len(subtokens)
    for name in ("sentence_map", "subtoken_map"):
        value = record[name]
        if not isinstance(value, list) or not all(_is_int(v) for v in value):
            raise _BadRecord(f"{key}: {name} is not a list of integers")
        if len(value) != num:
            raise _BadRecord(f"{key}: {name} has {len(value)} entries for {num} subtokens")
    sentence_map, subtoken_map = record["sentence_map"], record["subtoken_map"]
    clusters = record["clusters"]
    if not isinstance(clusters, list) or not all(
            isinstance(c, list) and all(
                isinstance(m, list) and len(m) == 2 and all(_is_int(i) for i in m) for m in c)
            for c in clusters):
        raise _BadRecord(f"{key}: clusters is not a list of lists of [start, end] pairs")
    for cluster in clusters:
        for start, end in cluster:
            if not 0 <= start <= end < num:
                raise _BadRecord(f"{key}: mention [{start}, {end}] is not a span of its {num} "
                                 "subtokens")
    # The subtokens of words: all but the [CLS] / [SEP] at segment edges.
    real = [False] * num
    offset = 0
    for segment in segments:
        for k, token in enumerate(segment):
            edge = (k == 0 and token == "[CLS]") or (k == len(segment) - 1 and token == "[SEP]")
            real[offset + k] = not edge
        offset += len(segment)
    sentences, sentence_speakers = [], []
    word, last_word, last_sentence = [], -1, None
    for i in range(num + 1):
        if i < num and not real[i]:
            continue
        if i == num or subtoken_map[i] != last_word:
            if word:
                text = word[0] + "".join(p[2:] if p.startswith("##") else p for p in word[1:])
                sentences[-1].append(text)
            if i == num:
                break
            if subtoken_map[i] != last_word + 1:
                raise _BadRecord(f"{key}: subtoken_map is not the word index of each subtoken "
                                 f"(subtoken {i}: word {subtoken_map[i]} after word {last_word})")
            sentence = sentence_map[i]
            if last_sentence is None or sentence > last_sentence:
                sentences.append([])
                sentence_speakers.append([])
            elif sentence < last_sentence:
                raise _BadRecord(f"{key}: sentence_map goes back (subtoken {i}: sentence "
                                 f"{sentence} after sentence {last_sentence})")
            last_word, last_sentence, word = subtoken_map[i], sentence, []
            sentence_speakers[-1].append(subtoken_speakers[i])
        word.append(subtokens[i])
    if last_word < 0:
        raise _BadRecord(f"{key}: no words (only [CLS] / [SEP])")
    # A mention goes to words through its first and last subtokens that are not [CLS] / [SEP].
    next_real, previous_real = [None] * num, [None] * num
    following = None
    for i in reversed(range(num)):
        following = i if real[i] else following
        next_real[i] = following
    preceding = None
    for i in range(num):
        preceding = i if real[i] else preceding
        previous_real[i] = preceding
    word_clusters, dropped = [], []
    for cluster in clusters:
        mentions = []
        for start, end in cluster:
            first, last = next_real[start], previous_real[end]
            if first is None or last is None or first > last:
                dropped.append(f"{key}: mention [{start}, {end}] covers only [CLS] / [SEP]; "
                               "dropped")
                continue
            mentions.append((subtoken_map[first], subtoken_map[last]))
        word_clusters.append(mentions)
    return _document(key, sentences, sentence_speakers, word_clusters), dropped


def _check_spans(clusters):
    """The clusters as lists of `(start, end)` ints; raises `ValueError` for a bad one."""
    checked = []
    for index, mentions in enumerate(clusters):
        spans = set()
        for mention in mentions:
            try:
                start, end = (operator.index(i) for i in mention)
            except (TypeError, ValueError):
                raise ValueError(f"cluster {index}: {mention!r} is not a [start, end] pair of "
                                 "word indices") from None
            if not 0 <= start <= end:
                raise ValueError(f"cluster {index}: [{start}, {end}] is not a span "
                                 "(0 <= start <= end)")
            spans.add((start, end))
        # Brackets of one cluster nest (a stack per cluster): two of its mentions may be
        # disjoint or one inside the other, never overlap otherwise (nor meet at a word
        # where one ends and the other starts, which the reference scorer reads otherwise).
        open_spans = []
        for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
            while open_spans and open_spans[-1][1] < start:
                open_spans.pop()
            if open_spans and end > open_spans[-1][1]:
                outer = open_spans[-1]
                raise ValueError(
                    f"cluster {index}: the mentions [{outer[0]}, {outer[1]}] and [{start}, "
                    f"{end}] overlap without one containing the other; the CoNLL brackets of "
                    "one cluster cannot express that"
                )
            open_spans.append((start, end))
        checked.append(sorted(spans))
    return checked


def _marks_by_word(clusters):
    """`{word index: coreference field}` of the words with a mark; `(marks, last word)`."""
    openings, closings, words = {}, {}, {}
    last = -1
    for cluster, mentions in enumerate(_check_spans(clusters)):
        for start, end in mentions:
            last = max(last, end)
            if start == end:
                words.setdefault(start, []).append(cluster)
            else:
                openings.setdefault(start, []).append((-end, cluster))
                closings.setdefault(end, []).append((-start, cluster))
    marks = {}
    for index in set(openings) | set(closings) | set(words):
        # The authors' order (`conll.output_conll`): closings (the mention opened last
        # first), one-word mentions, openings (the longest first).
        fields = [f"{c})" for _, c in sorted(closings.get(index, ()), key=lambda x: x[0])]
        fields += [f"({c})" for c in words.get(index, ())]
        fields += [f"({c}" for _, c in sorted(openings.get(index, ()), key=lambda x: x[0])]
        marks[index] = "|".join(fields)
    return marks, last


def cluster_marks(clusters, num_words):
    """The coreference column of each word for `clusters` (`"-"` for a word without a bracket).

    The cluster ids are the clusters' indices. At each word, as the authors'
    `conll.output_conll` writes them: the closings `ID)` (of the mention that
    started last first), the one-word mentions `(ID)`, then the openings
    `(ID` (the longest mention first), joined by `|`. A mention given twice
    in a cluster is written once.

    Args:
        clusters: list of clusters, each a list of `[start, end]` word
            indices (inclusive).
        num_words: int, the document's number of words.

    Raises:
        ValueError: a mention outside the words or not a span, or two
            mentions of one cluster that overlap without one containing the
            other (or where one ends at the word where the other starts):
            the brackets of one cluster nest, the reference scorer would read
            other mentions.

    Example:

    >>> cluster_marks([[[0, 1], [3, 3]], [[0, 4], [1, 1]]], 6)
    ['(1|(0', '0)|(1)', '-', '(0)', '1)', '-']
    """
    marks, last = _marks_by_word(clusters)
    if last >= num_words:
        raise ValueError(f"A mention ends at word {last}; the document has {num_words} words.")
    return [marks.get(index, "-") for index in range(num_words)]


def write_conll_predictions(input_path, output_path, predictions):
    """Writes `input_path` with the coreference column replaced by `predictions`.

    The output is the input line for line (comments, `#begin` / `#end`,
    blank lines and every other column, with their own spacing) with the
    last field of each token line replaced by the predicted brackets
    (`cluster_marks`): the reference scorer reads it beside the input as the
    key. Written atomically.

    Args:
        input_path: a CoNLL-2012 file.
        output_path: the file to write (not `input_path`).
        predictions: dict, document id (`f"{name}_{int(part)}"`) -> clusters
            of `[start, end]` word indices (as `read_coref` gives them).

    Returns:
        `output_path`.

    Raises:
        ValueError: a document of the input with words has no entry in
            `predictions` (named), an entry names a document not in the
            input or a word outside its document, a `#begin document` line
            is malformed or repeats a document, or the input is not UTF-8.

    Example:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> key = os.path.join(folder, "key_conll")
    >>> with open(key, "w") as f:
    ...     _ = f.write("#begin document (wb/a/00/a_01); part 001\\n"
    ...                 "wb/a/00/a_01  1  0  Emma   (0)\\n"
    ...                 "wb/a/00/a_01  1  1  smiled  -\\n"
    ...                 "#end document\\n")
    >>> response = write_conll_predictions(key, os.path.join(folder, "response_conll"),
    ...                                    {"wb/a/00/a_01_1": [[[0, 1]]]})
    >>> with open(response) as f:
    ...     print(f.read(), end="")
    #begin document (wb/a/00/a_01); part 001
    wb/a/00/a_01  1  0  Emma   (0
    wb/a/00/a_01  1  1  smiled  0)
    #end document
    """
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    if not os.path.isfile(input_path):
        raise FileNotFoundError(f"CoNLL file not found: {input_path}")
    check_outside_inputs(output_path, [input_path])
    try:
        atomic_write(output_path, lambda f: _write_predictions(input_path, f, predictions),
                     mode="wb")
    except UnicodeDecodeError:
        check_text(input_path)  # raises ValueError naming the line
        raise
    return output_path


def _write_predictions(input_path, output, predictions):
    seen = {}
    key, marks, last, num_words = None, None, -1, 0

    def finish():
        if marks is not None and last >= num_words:
            raise ValueError(f"The predictions for {key} name word {last}; the document has "
                             f"{num_words} words in {input_path}.")

    for number, line in _lines(input_path, keep_bom=True):
        bom = ""
        if number == 1 and line.startswith("\ufeff"):
            bom, line = "\ufeff", line[1:]
        text = line
        if line.startswith(BEGIN):
            finish()
            match = BEGIN_DOCUMENT.match(line.rstrip("\r\n"))
            if match is None:
                raise ValueError(f"{input_path}: line {number}: malformed {line.strip()!r} "
                                 "(expected '#begin document (NAME); part NNN').")
            key = f"{match.group(1)}_{int(match.group(2))}"
            if key in seen:
                raise ValueError(f"{input_path}: line {number}: document {key} was begun before "
                                 f"(line {seen[key]}).")
            seen[key] = number
            marks, last, num_words = None, -1, 0
        elif line.startswith(END):
            finish()
            key, marks = None, None
        elif not line.startswith("#") and key is not None:
            found = _LAST_FIELD.search(line)
            if found is not None:
                if marks is None:
                    if key not in predictions:
                        raise ValueError(f"No prediction for document {key} ({input_path}: "
                                         f"line {seen[key]}).")
                    try:
                        marks, last = _marks_by_word(predictions[key])
                    except ValueError as error:
                        raise ValueError(f"The predictions for {key}: {error}.") from None
                text = (line[:found.start()] + marks.get(num_words, "-") + line[found.end():])
                num_words += 1
        output.write((bom + text).encode("utf-8"))
    finish()
    extra = sorted(set(predictions) - set(seen))
    if extra:
        shown = ", ".join(extra[:5]) + (", ..." if len(extra) > 5 else "")
        raise ValueError(f"{len(extra)} predicted document(s) are not in {input_path}: {shown}.")
