"""Coreference readers (CoNLL-2012, the authors' jsonlines) and the CoNLL prediction writer."""

import json
import random
import re
import time

import numpy as np
import pytest

from spanbert_keras.data.coref_reader import cluster_marks
from spanbert_keras.data.coref_reader import read_conll_2012
from spanbert_keras.data.coref_reader import read_coref
from spanbert_keras.data.coref_reader import read_coref_jsonlines
from spanbert_keras.data.coref_reader import write_conll_predictions

NAME = "bc/cctv/00/cctv_0001"

# OntoNotes layout: 13 columns in part 000 (one predicate-argument column), 12 in part 001;
# speakers in column 9; the marks are in the canonical order (cluster ids in the order of
# first mention, closings / one-word / openings), so a rewrite with the gold is identical.
ONTONOTES = f"""#begin document ({NAME}); part 000
{NAME}   0    0       Emma   NNP  (TOP(S(NP(NP*     -    -   -   Speaker#1   (PERSON*      (ARG0*    (0|(0
{NAME}   0    1  Woodhouse   NNP             *)     -    -   -   Speaker#1         *)           *        0)
{NAME}   0    2          ,     ,              *     -    -   -   Speaker#1          *           *         -
{NAME}   0    3   handsome    JJ        (ADJP*      -    -   -   Speaker#1          *           *         -
{NAME}   0    4        and    CC              *     -    -   -   Speaker#1          *           *         -
{NAME}   0    5     clever    JJ           *))      -    -   -   Speaker#1          *          *)        0)
{NAME}   0    6         /.     .            *))     -    -   -   Speaker#1          *           *         -

# a comment line inside the document
{NAME}   0    0        She   PRP    (TOP(S(NP*)     -    -   -   Speaker#2          *      (ARG0*)      (0)
{NAME}   0    1      loved   VBD          (VP*   love  01   1   Speaker#2          *         (V*)        -
{NAME}   0    2        her  PRP$        (NP(NP*     -    -   -   Speaker#2          *      (ARG1*    (0)|(1
{NAME}   0    3        own    JJ              *     -    -   -   Speaker#2          *           *         -
{NAME}   0    4     father    NN            *))     -    -   -   Speaker#2          *          *)        1)
{NAME}   0    5          .     .            *))     -    -   -   Speaker#2          *           *         -

#end document
#begin document ({NAME}); part 001
{NAME}   1    0        Mr.   NNP  (TOP(S(NP*        -    -   -   Speaker#3   (PERSON*        (0
{NAME}   1    1  Knightley   NNP           *)       -    -   -   Speaker#3         *)        0)
{NAME}   1    2    visited   VBD         (VP*    visit  01  1   Speaker#3          *         (1
{NAME}   1    3        Mr.   NNP    (NP(NP(NP*      -    -   -   Speaker#3   (PERSON*     (2|(1
{NAME}   1    4  Woodhouse   NNP             *      -    -   -   Speaker#3         *)        1)
{NAME}   1    5         's   POS            *)      -    -   -   Speaker#3          *         -
{NAME}   1    6      house    NN         *)))       -    -   -   Speaker#3          *     2)|1)
{NAME}   1    7          .     .           *))      -    -   -   Speaker#3          *         -

#end document
"""

PART_0 = {
    "id": f"{NAME}_0",
    "genre": "bc",
    "sentences": [["Emma", "Woodhouse", ",", "handsome", "and", "clever", "."],
                  ["She", "loved", "her", "own", "father", "."]],
    "speakers": [["Speaker#1"] * 7, ["Speaker#2"] * 6],
    # "Emma Woodhouse" inside "Emma Woodhouse, handsome and clever" (the same cluster,
    # the same first word), "She", "her"; "her own father".
    "clusters": [[[0, 1], [0, 5], [7, 7], [9, 9]], [[9, 11]]],
}
PART_1_CLUSTERS = [[[0, 1]], [[2, 6], [3, 4]], [[3, 6]]]


def write(tmp_path, text, name="dev.english.v4_gold_conll"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def without_where(documents):
    return [{k: v for k, v in d.items() if k != "where"} for d in documents]


def test_ontonotes_parts_speakers_and_nested_mentions(tmp_path):
    path = write(tmp_path, ONTONOTES)
    documents, problems = read_coref(path)
    assert problems == []
    assert [d["id"] for d in documents] == [f"{NAME}_0", f"{NAME}_1"]
    assert without_where(documents)[0] == PART_0
    assert documents[0]["where"] == f"{path}: line 1"
    assert documents[1]["where"] == f"{path}: line 19"
    assert documents[1]["clusters"] == PART_1_CLUSTERS
    assert documents[1]["sentences"] == [["Mr.", "Knightley", "visited", "Mr.", "Woodhouse",
                                          "'s", "house", "."]]
    assert documents[1]["speakers"] == [["Speaker#3"] * 8]
    assert read_conll_2012(path) == (documents, [])


def test_cluster_ids_join_brackets_and_tabs(tmp_path):
    # Any cluster numbers; brackets joined with or without "|"; tab-separated columns; CRLF.
    text = ("#begin document (wb/x/00/x_0); part 002\r\n"
            "wb/x/00/x_0\t2\t0\tA\t*\t(12(7\r\n"
            "wb/x/00/x_0\t2\t1\tB\t*\t(12)|(3)\r\n"
            "wb/x/00/x_0\t2\t2\tC\t*\t7)|12)\r\n"
            "#end document\r\n")
    documents, problems = read_coref(write(tmp_path, text))
    assert problems == []
    assert documents[0]["id"] == "wb/x/00/x_0_2"
    assert documents[0]["sentences"] == [["A", "B", "C"]]
    assert documents[0]["clusters"] == [[[0, 2], [1, 1]], [[0, 2]], [[1, 1]]]


def test_placeholder_columns(tmp_path):
    # Another corpus in the same layout: fewer columns, "_" placeholders, "_" for no mention.
    text = ("#begin document (lit/austen/emma); part 0\n"
            "lit/austen/emma 0 0 Emma _ _ (0\n"
            "lit/austen/emma 0 1 Woodhouse _ _ 0)\n"
            "lit/austen/emma 0 2 smiled _ _ _\n"
            "\n\n"
            "lit/austen/emma 0 0 she _ _ (0)\n"
            "lit/austen/emma 0 1 sang _ _ _\n"
            "#end document\n")
    documents, problems = read_coref(write(tmp_path, text, "emma.conll"))
    assert problems == []
    assert without_where(documents) == [{
        "id": "lit/austen/emma_0",
        "genre": "li",
        "sentences": [["Emma", "Woodhouse", "smiled"], ["she", "sang"]],
        "speakers": [["-"] * 3, ["-"] * 2],
        "clusters": [[[0, 1], [3, 3]]],
    }]


def test_bom_and_no_break_space_inside_a_word(tmp_path):
    text = ("\ufeff#begin document (nw/a); part 000\n"
            "nw/a 0 0 10\u00a0000 CD (0)\n"
            "#end document\n")
    documents, problems = read_coref(write(tmp_path, text))
    assert problems == []
    assert documents[0]["sentences"] == [["10\u00a0000"]]


def test_rewriting_the_gold_gives_the_input_byte_for_byte(tmp_path):
    path = write(tmp_path, ONTONOTES)
    documents, _ = read_coref(path)
    output = str(tmp_path / "response_conll")
    gold = {d["id"]: d["clusters"] for d in documents}
    assert write_conll_predictions(path, output, gold) == output
    with open(path, "rb") as f, open(output, "rb") as g:
        assert g.read() == f.read()
    again, problems = read_coref(output)
    assert problems == [] and again == [dict(d, where=d["where"].replace(path, output))
                                        for d in documents]


def test_rewriting_keeps_bom_crlf_and_spacing_and_reads_back_the_clusters(tmp_path):
    text = ("\ufeff#begin document (wb/x/00/x_0); part 000\r\n"
            "wb/x/00/x_0\t0\t0\tA\t*\t(12\r\n"
            "wb/x/00/x_0  0   1   B   *   12)   \r\n"
            "\r\n"
            "wb/x/00/x_0 0 0 C * (3)\r\n"
            "#end document\r\n")
    path = write(tmp_path, text)
    documents, _ = read_coref(path)
    output = write_conll_predictions(path, tmp_path / "out_conll",
                                     {"wb/x/00/x_0_0": documents[0]["clusters"]})
    with open(output, "rb") as f:
        written = f.read().decode("utf-8")
    assert written == text.replace("(12", "(0").replace("12)", "0)").replace("(3)", "(1)")
    assert without_where(read_coref(output)[0]) == without_where(documents)
    predicted = {"wb/x/00/x_0_0": [[[2, 2]], [[0, 0], [0, 2]]]}
    write_conll_predictions(path, output, predicted)
    with open(output, "rb") as f:
        lines = f.read().decode("utf-8").split("\r\n")
    assert [line.split()[-1] for line in lines[1:3] + lines[4:5]] == ["(1)|(1", "-", "1)|(0)"]
    assert read_coref(output)[0][0]["clusters"] == [[[0, 0], [0, 2]], [[2, 2]]]


def test_a_document_of_10000_words_reads_and_writes_quickly(tmp_path):
    lines, expected = ["#begin document (nw/big/00/big_0001); part 000"], {}
    for sentence in range(500):
        for index in range(20):
            word = sentence * 20 + index
            mark = "-"
            if index == 2:
                mark = f"({sentence % 50}"
            elif index == 4:
                mark = f"{sentence % 50})"
            elif index == 7:
                mark = "(50)"
            lines.append(f"nw/big/00/big_0001 0 {index} w{word} NN * - - - spk{sentence % 3} "
                         f"* {mark}")
            if index == 2:
                expected.setdefault(sentence % 50, []).append([word, word + 2])
            elif index == 7:
                expected.setdefault(50, []).append([word, word])
        lines.append("")
    lines.append("#end document")
    path = write(tmp_path, "\n".join(lines) + "\n")
    start = time.perf_counter()
    documents, problems = read_coref(path)
    elapsed = time.perf_counter() - start
    assert problems == [] and len(documents) == 1
    document = documents[0]
    assert sum(len(s) for s in document["sentences"]) == 10_000
    assert document["sentences"][499][19] == "w9999"
    assert document["speakers"][4] == ["spk1"] * 20
    assert sorted(document["clusters"]) == sorted(expected.values())
    assert elapsed < 2.0, f"{elapsed:.2f} s to read 10,000 words"
    start = time.perf_counter()
    output = write_conll_predictions(path, tmp_path / "out", {document["id"]: document["clusters"]})
    assert time.perf_counter() - start < 2.0
    assert read_coref(output)[0][0]["clusters"] == document["clusters"]


BEGIN = "#begin document (nw/a); part 000\n"
END = "#end document\n"


def token(index, mark, word="w", name="nw/a", part="0"):
    return f"{name} {part} {index} {word} NN {mark}\n"


# (file text, the problem's line, words of the message, the ids of the documents read)
PROBLEMS = [
    (BEGIN + token(0, "(0)") + token(1, "3)") + END,
     2, "closing bracket '3)' with no open mention of cluster 3; ignored", ["nw/a_0"]),
    (BEGIN + token(0, "(0") + token(1, "(1") + token(2, "1)") + END,
     1, "mention of cluster 0 opened here is still open at #end document; ignored", ["nw/a_0"]),
    (BEGIN + token(0, "(x") + END,
     1, "malformed coreference field '(x'", ["nw/a_0"]),
    (BEGIN + token(0, "-") + token(1, "7((") + END,
     2, "malformed coreference field '7(('", ["nw/a_0"]),
    (BEGIN + token(0, "(0||1)") + END,
     1, "malformed coreference field '(0||1)'", ["nw/a_0"]),
    (BEGIN + token(0, "-") + BEGIN.replace("000", "001") + token(0, "-", part="1") + END,
     0, "document nw/a_0 never ends (no #end document before line 3 (#begin document)); "
        "skipped", ["nw/a_1"]),
    (BEGIN + token(0, "-") + END + BEGIN.replace("000", "002") + token(0, "-", part="2"),
     3, "document nw/a_2 never ends (no #end document before the end of the file); skipped",
     ["nw/a_0"]),
    (token(0, "-") + BEGIN + token(0, "-") + END,
     0, "token line outside any document (before #begin document or after #end document); "
        "ignored", ["nw/a_0"]),
    (BEGIN + token(0, "-") + END + "\n" + END,
     4, "#end document outside any document; ignored", ["nw/a_0"]),
    (BEGIN + token(0, "-") + token(1, "-", name="nw/b") + token(2, "3)") + END,
     2, "the line names document 'nw/b' part '0', not its #begin document's ('nw/a' part 0); "
        "document nw/a_0 skipped", []),
    (BEGIN + token(0, "-") + token(1, "-", part="1") + END,
     2, "the line names document 'nw/a' part '1'", []),
    (BEGIN + token(0, "-") + "nw/a 0 1 (0)\n" + END,
     2, "4 column(s), expected at least 5 (document, part, word index, word, ..., coreference); "
        "document nw/a_0 skipped", []),
    ("#begin document nw/a part 0\n" + token(0, "-") + END + BEGIN + token(0, "-") + END,
     0, "malformed '#begin document nw/a part 0' (expected '#begin document (NAME); part NNN'); "
        "the document is skipped", ["nw/a_0"]),
    (BEGIN + token(0, "(0)") + END + BEGIN + token(0, "-") + END,
     3, "document nw/a_0 was read before (line 1); skipped", ["nw/a_0"]),
    (BEGIN + "\n# nothing\n" + END + BEGIN.replace("000", "001") + token(0, "-", part="1") + END,
     0, "document nw/a_0 has no words; skipped", ["nw/a_1"]),
]


@pytest.mark.parametrize("text, line, message, ids", PROBLEMS)
def test_each_problem_is_counted_with_its_line_and_strict_raises_it(
        tmp_path, text, line, message, ids):
    path = write(tmp_path, text, "bad_conll")
    documents, problems = read_coref(path)
    assert [d["id"] for d in documents] == ids
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: line {line + 1}: {message}")
    with pytest.raises(ValueError, match=re.escape(f"bad_conll: line {line + 1}: {message}")):
        read_coref(path, strict=True)


def test_an_ignored_bracket_leaves_the_rest_of_the_document(tmp_path):
    text = BEGIN + token(0, "(0") + token(1, "(x") + token(2, "0)|5)") + token(3, "(1)") + END
    documents, problems = read_coref(write(tmp_path, text))
    assert documents[0]["clusters"] == [[[0, 2]], [[3, 3]]]
    assert [p.split(": ")[1] for p in problems] == ["line 3", "line 4"]


def test_a_file_that_is_not_utf8_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "latin1_conll"
    path.write_bytes((BEGIN + token(0, "-")).encode() + b"nw/a 0 1 caf\xe9 NN -\n" + END.encode())
    for read in (read_coref, read_conll_2012, read_coref_jsonlines):
        with pytest.raises(ValueError, match="latin1_conll: line 3 is not UTF-8"):
            read(path)
    with pytest.raises(ValueError, match="latin1_conll: line 3 is not UTF-8"):
        write_conll_predictions(path, tmp_path / "out", {"nw/a_0": []})
    assert not (tmp_path / "out").exists()
    with pytest.raises(FileNotFoundError):
        read_coref(tmp_path / "missing")


# The CoNLL text of one document and the same document as minimize.py writes it: BERT
# subtokens ("Wood ##house", "twenty - one", "Mr ."), two segments, the segment edges'
# [CLS] / [SEP] mapped as minimize maps them, clusters in subtoken indices in another order.
EQUIVALENT_CONLL = """#begin document (nw/wsj/00/wsj_0001); part 000
nw/wsj/00/wsj_0001 0 0 Emma NNP * - - - A * (0
nw/wsj/00/wsj_0001 0 1 Woodhouse NNP * - - - A * 0)
nw/wsj/00/wsj_0001 0 2 smiled VBD * - - - A * -
nw/wsj/00/wsj_0001 0 3 . . * - - - A * -

nw/wsj/00/wsj_0001 0 0 She PRP * - - - A * (0)
nw/wsj/00/wsj_0001 0 1 was VBD * - - - A * -
nw/wsj/00/wsj_0001 0 2 twenty-one CD * - - - A * (2)
nw/wsj/00/wsj_0001 0 3 /. . * - - - A * -

nw/wsj/00/wsj_0001 0 0 Mr. NNP * - - - B * (1
nw/wsj/00/wsj_0001 0 1 Knightley NNP * - - - B * 1)
nw/wsj/00/wsj_0001 0 2 laughed VBD * - - - B * -
nw/wsj/00/wsj_0001 0 3 . . * - - - B * -

#end document
"""
MINIMIZED = {
    "doc_key": "nw/wsj/00/wsj_0001_0",
    "sentences": [
        ["[CLS]", "Emma", "Wood", "##house", "smiled", ".", "She", "was", "twenty", "-", "one",
         ".", "[SEP]"],
        ["[CLS]", "Mr", ".", "Knight", "##ley", "laughed", ".", "[SEP]"],
    ],
    "speakers": [["[SPL]"] + ["A"] * 11 + ["[SPL]"], ["[SPL]"] + ["B"] * 6 + ["[SPL]"]],
    "constituents": [],
    "ner": [],
    "clusters": [[[14, 17]], [[6, 6], [1, 3]], [[8, 10]]],
    "sentence_map": [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3],
    "subtoken_map": [0, 0, 1, 1, 2, 3, 4, 5, 6, 6, 6, 7, 7, 7, 8, 8, 9, 9, 10, 11, 11],
    "pronouns": [6],
}


def write_jsonlines(tmp_path, records, name="dev.english.384.jsonlines"):
    path = tmp_path / name
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_jsonlines_reads_to_the_same_document_as_the_conll_text(tmp_path):
    conll, problems = read_coref(write(tmp_path, EQUIVALENT_CONLL))
    assert problems == []
    path = write_jsonlines(tmp_path, [MINIMIZED])
    minimized, problems = read_coref(path)
    assert problems == []
    assert without_where(minimized) == without_where(conll)
    assert minimized[0]["sentences"][1] == ["She", "was", "twenty-one", "."]
    assert minimized[0]["clusters"] == [[[0, 1], [4, 4]], [[6, 6]], [[8, 9]]]
    assert minimized[0]["where"] == f"{path}: line 1"
    assert read_coref_jsonlines(path) == (minimized, [])


def test_jsonlines_told_by_content_with_bom_and_blank_lines(tmp_path):
    path = tmp_path / "dev.txt"
    path.write_text("\ufeff\n\n" + json.dumps(MINIMIZED) + "\n\n", encoding="utf-8")
    documents, problems = read_coref(path)
    assert problems == [] and documents[0]["where"] == f"{path}: line 3"


def test_jsonlines_mention_on_cls_sep_only_is_dropped_and_edges_are_trimmed(tmp_path):
    record = dict(MINIMIZED, clusters=[[[12, 13]], [[0, 3], [11, 14]], [[0, 0]]])
    documents, problems = read_coref(write_jsonlines(tmp_path, [record]))
    # [0, 3] keeps "Emma Woodhouse", [11, 14] keeps "." and "Mr.".
    assert documents[0]["clusters"] == [[[0, 1], [7, 8]]]
    assert [p.split(": ", 2)[2] for p in problems] == [
        "nw/wsj/00/wsj_0001_0: mention [12, 13] covers only [CLS] / [SEP]; dropped",
        "nw/wsj/00/wsj_0001_0: mention [0, 0] covers only [CLS] / [SEP]; dropped",
    ]


def shifted(values, index, value):
    values = list(values)
    values[index] = value
    return values


JSONLINES_PROBLEMS = [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object: '[1, 2]'"),
    ({"doc_key": "x"}, "lacks the field(s) sentences, speakers, clusters, sentence_map, "
                       "subtoken_map"),
    (dict(MINIMIZED, doc_key=3), "doc_key is not a non-empty string: 3"),
    (dict(MINIMIZED, sentences=[["[CLS]", 3]]), "sentences is not a list of lists of strings"),
    (dict(MINIMIZED, speakers=MINIMIZED["speakers"][:1]), "speakers has another shape"),
    (dict(MINIMIZED, sentence_map=MINIMIZED["sentence_map"][:-1]),
     "sentence_map has 20 entries for 21 subtokens"),
    (dict(MINIMIZED, subtoken_map=MINIMIZED["subtoken_map"] + [11]),
     "subtoken_map has 22 entries for 21 subtokens"),
    (dict(MINIMIZED, subtoken_map=shifted(MINIMIZED["subtoken_map"], 7, True)),
     "subtoken_map is not a list of integers"),
    (dict(MINIMIZED, clusters=[[[3, 21]]]), "mention [3, 21] is not a span of its 21 subtokens"),
    (dict(MINIMIZED, clusters=[[[5, 4]]]), "mention [5, 4] is not a span"),
    (dict(MINIMIZED, clusters=[[[1, 2, 3]]]), "clusters is not a list of lists of [start, end]"),
    (dict(MINIMIZED, subtoken_map=shifted(MINIMIZED["subtoken_map"], 7, 6)),
     "subtoken_map is not the word index of each subtoken (subtoken 7: word 6 after word 4)"),
    (dict(MINIMIZED, sentence_map=shifted(MINIMIZED["sentence_map"], 7, 0)),
     "sentence_map goes back (subtoken 7: sentence 0 after sentence 1)"),
]


@pytest.mark.parametrize("record, message", JSONLINES_PROBLEMS)
def test_each_bad_jsonlines_record_is_skipped_naming_its_line(tmp_path, record, message):
    good = dict(MINIMIZED, doc_key="nw/ok_0")
    path = write_jsonlines(tmp_path, [good, record, dict(good, doc_key="nw/ok_1")], "bad.jsonlines")
    documents, problems = read_coref_jsonlines(path)
    assert [d["id"] for d in documents] == ["nw/ok_0", "nw/ok_1"]
    assert len(problems) == 1 and problems[0].startswith(f"{path}: line 2: ")
    assert message in problems[0] and problems[0].endswith("; skipped")
    with pytest.raises(ValueError, match="bad.jsonlines: line 2: "):
        read_coref(path, strict=True)


def test_a_repeated_jsonlines_document_is_skipped(tmp_path):
    path = write_jsonlines(tmp_path, [MINIMIZED, MINIMIZED])
    documents, problems = read_coref(path)
    assert len(documents) == 1
    assert problems == [f"{path}: line 2: document nw/wsj/00/wsj_0001_0 was read before "
                        "(line 1); skipped"]


def test_cluster_marks_orders_brackets_so_that_they_nest():
    clusters = [[[0, 3], [1, 1], [1, 2], [5, 5]], [[1, 3]], [[3, 3], [3, 3]]]
    assert cluster_marks(clusters, 7) == ["(0", "(0)|(1|(0", "0)", "1)|0)|(2)", "-", "(0)", "-"]
    # Mentions of one cluster that meet at a word: the one ending is closed first.
    assert cluster_marks([[[0, 2], [2, 2]]], 3) == ["(0", "-", "0)|(0)"]
    assert cluster_marks([], 2) == ["-", "-"]
    with pytest.raises(ValueError, match="ends at word 3; the document has 3 words"):
        cluster_marks([[[0, 3]]], 3)
    with pytest.raises(ValueError, match=r"cluster 1: \[2, 1\] is not a span"):
        cluster_marks([[[0, 0]], [[2, 1]]], 3)
    with pytest.raises(ValueError, match=r"cluster 0: 'ab' is not a \[start, end\] pair"):
        cluster_marks([["ab"]], 3)
    with pytest.raises(ValueError, match=r"cluster 0: \[0, 1.5\] is not a \[start, end\] pair"):
        cluster_marks([[[0, 1.5]]], 3)
    assert cluster_marks([np.array([[0, 1]], dtype=np.int64)], 2) == ["(0", "0)"]
    for crossing in ([[0, 2], [1, 3]], [[0, 2], [2, 4]]):
        with pytest.raises(ValueError, match="overlap without one containing the other"):
            cluster_marks([crossing], 5)


def scorer_clusters(fields):
    """The clusters the reference scorer (CorScorer.pm, GetCoreference) reads from a column."""
    entities, half = {}, {}
    for index, field in enumerate(fields):
        if field == "_":
            continue
        for number in re.findall(r"\((\d+)\)", field):
            entities.setdefault(number, set()).add((index, index))
        field = re.sub(r"\((\d+)\)", "", field)
        for number in re.findall(r"\((\d+)", field):
            half.setdefault(number, []).append(index)
        field = re.sub(r"\((\d+)", "", field)
        for number in re.findall(r"(\d+)\)", field):
            entities.setdefault(number, set()).add((half[number].pop(), index))
    assert not any(half.values()), "some mentions do not close"
    return sorted(sorted(mentions) for mentions in entities.values())


def random_clusters(rng, num_words):
    """Clusters whose mentions of one cluster nest or are apart (what the format can say)."""
    clusters = []
    for _ in range(rng.randint(1, 8)):
        mentions = []
        for _ in range(rng.randint(1, 5)):
            start = rng.randrange(num_words)
            end = min(num_words - 1, start + rng.choice([0, 0, 1, 2, 5]))
            apart_or_nested = all(
                e < start or end < s or (s <= start and end <= e) or (start <= s and e <= end)
                for s, e in mentions
            )
            if apart_or_nested:
                mentions.append((start, end))
        clusters.append(mentions)
    return clusters


def test_written_marks_read_back_by_the_scorer_and_the_reader(tmp_path):
    rng = random.Random(0)
    for trial in range(200):
        num_words = rng.randint(1, 30)
        clusters = random_clusters(rng, num_words)
        fields = cluster_marks(clusters, num_words)
        expected = sorted(sorted(set(m)) for m in clusters)
        assert scorer_clusters(fields) == expected, (trial, clusters, fields)
        text = BEGIN + "".join(token(i, f) for i, f in enumerate(fields)) + END
        documents, problems = read_coref(write(tmp_path, text, f"t{trial}"))
        assert problems == []
        assert sorted(documents[0]["clusters"]) == [[list(m) for m in c] for c in expected]


def test_write_refuses_missing_extra_and_out_of_range_predictions(tmp_path):
    path = write(tmp_path, ONTONOTES)
    output = tmp_path / "response"
    both = {f"{NAME}_0": PART_0["clusters"], f"{NAME}_1": PART_1_CLUSTERS}
    with pytest.raises(ValueError, match=f"No prediction for document {NAME}_1 "
                                         rf"\(.*: line 19\)"):
        write_conll_predictions(path, output, {f"{NAME}_0": []})
    with pytest.raises(ValueError, match="1 predicted document.* not in .*: nw/other_0"):
        write_conll_predictions(path, output, dict(both, **{"nw/other_0": []}))
    with pytest.raises(ValueError, match=f"predictions for {NAME}_1 name word 8; the document "
                                         "has 8 words"):
        write_conll_predictions(path, output, dict(both, **{f"{NAME}_1": [[[8, 8]]]}))
    with pytest.raises(ValueError, match=f"The predictions for {NAME}_0: cluster 0: the "
                                         r"mentions \[0, 2\] and \[1, 3\] overlap"):
        write_conll_predictions(path, output, dict(both, **{f"{NAME}_0": [[[0, 2], [1, 3]]]}))
    assert not output.exists()
    with pytest.raises(ValueError, match="writing it would destroy what is read"):
        write_conll_predictions(path, path, both)
    write_conll_predictions(path, output, {f"{NAME}_0": [], f"{NAME}_1": []})
    documents, _ = read_coref(output)
    assert [d["clusters"] for d in documents] == [[], []]


def test_write_needs_no_prediction_for_a_document_without_words(tmp_path):
    path = write(tmp_path, "# header\n" + BEGIN + "\n" + END + BEGIN.replace("000", "001")
                 + token(0, "-", part="1") + END)
    output = write_conll_predictions(path, tmp_path / "out", {"nw/a_1": [[[0, 0]]]})
    with open(output, encoding="utf-8") as f:
        assert f.read().splitlines()[-2] == "nw/a 1 0 w NN (0)"
    with pytest.raises(ValueError, match="line 2: document nw/a_0 was begun before"):
        write_conll_predictions(write(tmp_path, BEGIN * 2, "twice"), tmp_path / "o", {})
