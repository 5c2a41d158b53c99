"""The authors' coreference jsonlines writer (`minimize.py`'s output) from word-level documents.

The expected lines are worked out by hand from `minimize.py`'s rules
(`split_into_segments`, `get_sentence_map`, `finalize`), and checked on a
generated corpus against a transcription of those rules written here.
"""

import collections
import json
import os

import pytest
from coref_data import coref_documents
from coref_data import write_conll

from spanbert_keras.data.coref_features import CorefFeatures
from spanbert_keras.data.coref_jsonlines import minimized_document
from spanbert_keras.data.coref_jsonlines import write_coref_jsonlines
from spanbert_keras.data.coref_reader import read_coref
from spanbert_keras.data.coref_reader import read_coref_jsonlines
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.data.vocabulary import SPECIAL_TOKENS
from spanbert_keras.data.vocabulary import Vocabulary

VOCABULARY = Vocabulary(list(SPECIAL_TOKENS) + [
    "Emma", "Wood", "##house", "smiled", ".", "She", "laughed", "Mr", "Knight", "##ley", "'",
    "s", "brother", "greeted", "Miss", "sang",
])
NAME = "tc/emma/00/emma_0001"
# Three sentences (speakers N, H, N); the third, of 11 pieces, is longer than a segment of 11
# (9 pieces between [CLS] and [SEP]). "Woodhouse" and "Knightley" are two pieces each, "'s" is
# "'" and "s" (a split at punctuation, no ##). Clusters: Emma (0: "Emma Woodhouse", "She",
# "Miss Woodhouse"), Mr Knightley (1) nested in "Mr Knightley 's brother" (2). Part 001 is a
# second document with a one-word mention.
CONLL = f"""#begin document ({NAME}); part 000
{NAME}  0   0  Emma       NNP  (TOP(S(NP*   -  -  -  Narrator  (PERSON*  (0
{NAME}  0   1  Woodhouse  NNP  *)           -  -  -  Narrator  *)        0)
{NAME}  0   2  smiled     VBD  (VP*)        -  -  -  Narrator  *         -
{NAME}  0   3  /.         .    *))          -  -  -  Narrator  *         -

{NAME}  0   0  She        PRP  (TOP(S(NP*)  -  -  -  Harriet   *         (0)
{NAME}  0   1  laughed    VBD  (VP*)        -  -  -  Harriet   *         -
{NAME}  0   2  .          .    *))          -  -  -  Harriet   *         -

{NAME}  0   0  Mr         NNP  (TOP(S(NP(NP*  -  -  -  Narrator  (PERSON*  (2|(1
{NAME}  0   1  Knightley  NNP  *              -  -  -  Narrator  *)        1)
{NAME}  0   2  's         POS  *)             -  -  -  Narrator  *         -
{NAME}  0   3  brother    NN   *)             -  -  -  Narrator  *         2)
{NAME}  0   4  greeted    VBD  (VP*           -  -  -  Narrator  *         -
{NAME}  0   5  Miss       NNP  (NP*           -  -  -  Narrator  (PERSON*  (0
{NAME}  0   6  Woodhouse  NNP  *))            -  -  -  Narrator  *)        0)
{NAME}  0   7  .          .    *))            -  -  -  Narrator  *         -

#end document
#begin document ({NAME}); part 001
{NAME}  1   0  Emma       NNP  (TOP(S(NP*)  -  -  -  Narrator  (PERSON)  (3)
{NAME}  1   1  sang       VBD  (VP*)        -  -  -  Narrator  *         -
{NAME}  1   2  .          .    *))          -  -  -  Narrator  *         -

#end document
"""
N, H, SPL = "Narrator", "Harriet", "[SPL]"
# By hand, minimize.py with max_segment_len 11. The pieces (no [CLS] / [SEP]), a sentence end
# after 4, 7 and 18:
#   0 Emma  1 Wood  2 ##house  3 smiled  4 .  5 She  6 laughed  7 .  8 Mr  9 Knight  10 ##ley
#   11 '  12 s  13 brother  14 greeted  15 Miss  16 Wood  17 ##house  18 .
# split_into_segments: from 0, the last piece that fits is 8 (0 + 11 - 1 - 2); the last sentence
# end at or before it is 7 -> segment 0..7. From 8, the limit is 16 (Wood): no sentence end in
# 8..16, the last word end is 15 (Miss) -> 8..15. From 16 the rest fits -> 16..18.
EXPECTED = [
    {
        "doc_key": f"{NAME}_0",
        "sentences": [
            ["[CLS]", "Emma", "Wood", "##house", "smiled", ".", "She", "laughed", ".", "[SEP]"],
            ["[CLS]", "Mr", "Knight", "##ley", "'", "s", "brother", "greeted", "Miss", "[SEP]"],
            ["[CLS]", "Wood", "##house", ".", "[SEP]"],
        ],
        # Each piece its word's speaker (a continuation piece takes the one before it).
        "speakers": [
            [SPL, N, N, N, N, N, H, H, H, SPL],
            [SPL, N, N, N, N, N, N, N, N, SPL],
            [SPL, N, N, N, SPL],
        ],
        "constituents": [],
        "ner": [],
        # Flat indices count [CLS] / [SEP]: the segments hold 0-9, 10-19, 20-24. "Emma
        # Woodhouse" 1-3, "She" 6, "Miss Woodhouse" from Miss (18) over [SEP] 19 and [CLS] 20 to
        # ##house (22); "Mr Knightley" 11-13; "Mr Knightley 's brother" 11-16. minimize.py lists
        # a cluster's mentions in a set's order; they are compared sorted.
        "clusters": [[[1, 3], [6, 6], [18, 22]], [[11, 13]], [[11, 16]]],
        # get_sentence_map: [CLS] the count of sentence ends before its segment, a piece its
        # sentence (the count is raised after the last piece of a sentence), [SEP] the count
        # after its segment's last piece.
        "sentence_map": [0, 0, 0, 0, 0, 0, 1, 1, 1, 2,
                         2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
                         2, 2, 2, 2, 3],
        # [CLS] the previous segment's last word (0 first), a piece its word, [SEP] its
        # segment's last word.
        "subtoken_map": [0, 0, 1, 1, 2, 3, 4, 5, 6, 6,
                         6, 7, 8, 8, 9, 9, 10, 11, 12, 12,
                         12, 13, 13, 14, 14],
    },
    {
        "doc_key": f"{NAME}_1",
        "sentences": [["[CLS]", "Emma", "sang", ".", "[SEP]"]],
        "speakers": [[SPL, N, N, N, SPL]],
        "constituents": [],
        "ner": [],
        "clusters": [[[1, 1]]],
        "sentence_map": [0, 0, 0, 0, 1],
        "subtoken_map": [0, 0, 1, 2, 2],
    },
]
FIELDS = ["doc_key", "sentences", "speakers", "constituents", "ner", "clusters", "sentence_map",
          "subtoken_map"]


def word_level(documents):
    return [{k: d[k] for k in ("id", "genre", "sentences", "speakers", "clusters")}
            for d in documents]


@pytest.fixture
def conll(tmp_path):
    path = tmp_path / "dev.english.v4_gold_conll"
    path.write_text(CONLL, encoding="utf-8")
    return str(path)


def test_every_field_is_minimize_py_s(conll, tmp_path):
    documents, problems = read_coref(conll, strict=True)
    assert problems == []
    path = write_coref_jsonlines(documents, VOCABULARY, tmp_path / "dev.jsonlines",
                                 max_segment_length=11)
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert len(lines) == 2
    for line, expected in zip(lines, EXPECTED):
        record = json.loads(line)
        assert list(record) == FIELDS  # minimize.py's keys, in its order
        assert line == json.dumps(record)  # json.dumps' defaults, as minimize.py writes
        record["clusters"] = [sorted(cluster) for cluster in record["clusters"]]
        assert record == expected


def test_the_written_file_reads_back_to_the_same_documents(conll, tmp_path):
    documents, _ = read_coref(conll, strict=True)
    for length in (5, 11, 384):
        path = write_coref_jsonlines(documents, VOCABULARY, tmp_path / f"{length}.jsonlines",
                                     max_segment_length=length)
        back, problems = read_coref_jsonlines(path, strict=True)
        assert problems == [] and word_level(back) == word_level(documents), length
        # ... and writing what was read gives the same file.
        again = write_coref_jsonlines(back, VOCABULARY, tmp_path / f"{length}.again.jsonlines",
                                      max_segment_length=length)
        with open(path, "rb") as first, open(again, "rb") as second:
            assert first.read() == second.read()


def test_clusters_sharing_a_mention_are_merged_as_minimize_py_merges_them():
    document = {"id": "nw/x/00/x_0001_0", "sentences": [["Emma", "sang", ".", "She", "smiled"]],
                "speakers": [["-"] * 5],
                "clusters": [[[0, 0], [3, 3]], [[1, 1]], [[4, 4], [3, 3]], [[2, 2], [1, 1]]]}
    line = minimized_document(document, CorefFeatures(VOCABULARY, 384))
    assert line["clusters"] == [[[1, 1], [4, 4], [5, 5]], [[2, 2], [3, 3]]]


def test_a_word_longer_than_a_segment_is_cut_across_segments_and_read_back_whole(tmp_path):
    # minimize.py stops here ("Can't find valid segment"); CorefFeatures cuts the word.
    document = {"id": "nw/x/00/x_0001_0", "sentences": [["Emma", "Woodhouse"]],
                "speakers": [["-", "-"]], "clusters": [[[0, 1]]]}
    line = minimized_document(document, CorefFeatures(VOCABULARY, 3))
    assert line["sentences"] == [["[CLS]", "Emma", "[SEP]"], ["[CLS]", "Wood", "[SEP]"],
                                 ["[CLS]", "##house", "[SEP]"]]
    assert line["subtoken_map"] == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert line["sentence_map"] == [0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert line["clusters"] == [[[1, 7]]]
    path = write_coref_jsonlines([document], VOCABULARY, tmp_path / "cut.jsonlines", 3)
    back, problems = read_coref_jsonlines(path, strict=True)
    assert problems == [] and word_level(back)[0]["sentences"] == [["Emma", "Woodhouse"]]
    assert back[0]["clusters"] == [[[0, 1]]]


def test_a_word_without_pieces_is_unk():
    document = {"id": "nw/x/00/x_0001_0", "sentences": [["Emma", "\x00", "sang"]],
                "speakers": [["-"] * 3], "clusters": [[[1, 2]]]}
    line = minimized_document(document, CorefFeatures(VOCABULARY, 384))
    assert line["sentences"] == [["[CLS]", "Emma", "[UNK]", "sang", "[SEP]"]]
    assert line["clusters"] == [[[2, 3]]]


@pytest.mark.parametrize("change, message", [
    (dict(clusters=[[[3, 9]]]), "mention [3, 9] is not a span of the document's 5 words"),
    (dict(clusters=[[[2, 1]]]), "mention [2, 1] is not a span"),
    (dict(speakers=[["-"] * 4]), "the speakers have another shape than the sentences"),
    (dict(sentences=[[]], speakers=[[]], clusters=[]), "has no words"),
])
def test_a_bad_document_is_refused_naming_it_and_nothing_is_written(tmp_path, change, message):
    good = {"id": "nw/x/00/x_0001_0", "sentences": [["Emma", "sang", ".", "She", "smiled"]],
            "speakers": [["-"] * 5], "clusters": [], "where": "dev_conll: line 1"}
    bad = {**good, "id": "nw/x/00/x_0002_0", "where": "dev_conll: line 9", **change}
    path = tmp_path / "out.jsonlines"
    with pytest.raises(ValueError, match="dev_conll: line 9") as error:
        write_coref_jsonlines([good, bad], VOCABULARY, path)
    assert message in str(error.value)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_no_document_or_a_repeated_id_is_refused(tmp_path):
    document = {"id": "nw/x/00/x_0001_0", "sentences": [["Emma"]], "speakers": [["-"]],
                "clusters": []}
    with pytest.raises(ValueError, match="No document to write"):
        write_coref_jsonlines([], VOCABULARY, tmp_path / "out.jsonlines")
    with pytest.raises(ValueError, match="nw/x/00/x_0001_0 is given twice"):
        write_coref_jsonlines([document, dict(document)], VOCABULARY, tmp_path / "out.jsonlines")
    assert os.listdir(tmp_path) == []


# ------------------------------------------- minimize.py's rules, transcribed, on a corpus


def minimize_document(doc_key, lines, pieces_of, segment_len):
    """`minimize.py`'s `get_document` for one document's CoNLL lines (English), transcribed.

    `pieces_of(word)` is the tokenizer's pieces of a word. Returns the line
    it writes, without `pronouns` (the POS column) and with each cluster's
    mentions sorted (minimize.py lists a set).
    """
    subtokens, info, sentence_end, token_end, word_of = [], [], [], [], []
    word = -1
    for line in lines:
        row = line.split()
        if not row:
            sentence_end[-1] = True
            continue
        word += 1
        text = {"/.": ".", "/?": "?"}.get(row[3], row[3])
        pieces = pieces_of(text)
        token_end += [False] * (len(pieces) - 1) + [True]
        for k, piece in enumerate(pieces):
            subtokens.append(piece)
            info.append(row + [len(pieces)] if k == 0 else None)
            sentence_end.append(False)
            word_of.append(word)
    segments, segment_maps, segment_info = [], [], []
    current, previous = 0, 0
    while current < len(subtokens):
        limit = min(current + segment_len - 1 - 2, len(subtokens) - 1)
        end = limit
        while end >= current and not sentence_end[end]:
            end -= 1
        if end < current:
            end = limit
            while end >= current and not token_end[end]:
                end -= 1
            assert end >= current, "Can't find valid segment"
        segments.append(["[CLS]"] + subtokens[current:end + 1] + ["[SEP]"])
        words = word_of[current:end + 1]
        segment_maps.append([previous] + words + [words[-1]])
        segment_info.append([None] + info[current:end + 1] + [None])
        current, previous = end + 1, words[-1]
    speakers = []
    for segment in segment_info:
        row_speakers = []
        for i, row in enumerate(segment):
            if row is None:
                row_speakers.append("[SPL]" if i in (0, len(segment) - 1) else row_speakers[-1])
            else:
                row_speakers.append(row[9])
        speakers.append(row_speakers)
    clusters, stacks = collections.defaultdict(list), collections.defaultdict(list)
    first = -1
    for segment in segment_info:
        for row in segment:
            first += 1
            coref = row[-2] if row is not None else "-"
            if coref == "-":
                continue
            last = first + row[-1] - 1
            for part in coref.split("|"):
                if part[0] == "(" and part[-1] == ")":
                    clusters[int(part[1:-1])].append((first, last))
                elif part[0] == "(":
                    stacks[int(part[1:])].append(first)
                else:
                    cluster = int(part[:-1])
                    clusters[cluster].append((stacks[cluster].pop(), last))
    merged = []
    for mentions in clusters.values():
        existing = next((c for m in mentions for c in merged if m in c), None)
        if existing is None:
            merged.append(set(mentions))
        else:
            existing.update(mentions)
    sentence_map, count, index = [], 0, 0
    for segment in segments:
        sentence_map.append(count)
        for _ in range(len(segment) - 2):
            sentence_map.append(count)
            count += int(sentence_end[index])
            index += 1
        sentence_map.append(count)
    return {
        "doc_key": doc_key, "sentences": segments, "speakers": speakers, "constituents": [],
        "ner": [], "clusters": [sorted([list(m) for m in c]) for c in merged],
        "sentence_map": sentence_map, "subtoken_map": [w for m in segment_maps for w in m],
    }


def minimize_file(path, pieces_of, segment_len):
    """`minimize.py`'s `minimize_partition` of one CoNLL file: its lines, in order."""
    documents = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#begin document"):
                name, part = line[len("#begin document ("):].rstrip().split("); part ")
                documents.append((f"{name}_{int(part)}", []))
            elif not line.startswith("#end document"):
                documents[-1][1].append(line)
    return [minimize_document(key, lines, pieces_of, segment_len) for key, lines in documents]


def test_a_generated_corpus_is_written_as_minimize_py_writes_it(tmp_path, demo_vocabulary):
    path = write_conll(coref_documents(24, "dev", seed=3), str(tmp_path / "dev_conll"))
    documents, _ = read_coref(path, strict=True)
    words = sorted({w for d in documents for s in d["sentences"] for w in s})
    tokenizer = SpanBertTokenizer(demo_vocabulary)
    pieces = {word: [demo_vocabulary.tokens[i] for i in ids] or ["[UNK]"]
              for word, ids in zip(words, tokenizer.tokenize(words).to_list())}
    assert not any("[UNK]" in p for p in pieces.values())  # the words read back as they are
    for length in (16, 40, 384):
        written = write_coref_jsonlines(documents, demo_vocabulary,
                                        tmp_path / f"dev.{length}.jsonlines", length)
        with open(written, encoding="utf-8") as f:
            ours = [json.loads(line) for line in f]
        for record in ours:
            record["clusters"] = [sorted(cluster) for cluster in record["clusters"]]
        reference = minimize_file(path, pieces.__getitem__, length)
        assert [r["doc_key"] for r in ours] == [r["doc_key"] for r in reference]
        for record, expected in zip(ours, reference):
            # The clusters' order: minimize.py's is the order their first mention closes.
            assert sorted(record.pop("clusters")) == sorted(expected.pop("clusters"))
            assert record == expected, (length, record["doc_key"])
        assert max(len(s) for r in ours for s in r["sentences"]) <= length
        assert sum(len(r["sentences"]) for r in ours) > len(ours) or length == 384
        back, problems = read_coref_jsonlines(written, strict=True)
        assert problems == [] and word_level(back) == word_level(documents)
