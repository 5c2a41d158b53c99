"""SQuAD / MRQA readers: examples as documented, bad records counted and named, strict mode."""

import gzip
import json

import pytest
from qa_data import crafted_examples
from qa_data import squad_json

from spanbert_keras.data.squad import read_mrqa
from spanbert_keras.data.squad import read_qa_file
from spanbert_keras.data.squad import read_squad

CONTEXT = "Emma Woodhouse lived at Hartfield, in Highbury."


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def squad_file(tmp_path, qas, context=CONTEXT, name="data.json"):
    data = {"version": "v2.0", "data": [{"title": "Emma", "paragraphs": [{"context": context, "qas": qas}]}]}
    return write(tmp_path / name, json.dumps(data))


def test_v1_round_trip_of_the_crafted_set(tmp_path):
    examples = crafted_examples()
    read, problems = read_squad(write(tmp_path / "train.json", squad_json(examples)))
    assert problems == [] and read == examples


def test_v2_unanswerable_questions(tmp_path):
    path = squad_file(tmp_path, [
        {"id": "a", "question": "Where?", "answers": [{"text": "Hartfield", "answer_start": 24}],
         "is_impossible": False},
        {"id": "b", "question": "When?", "answers": [], "is_impossible": True,
         "plausible_answers": [{"text": "Highbury", "answer_start": 38}]},
    ])
    examples, problems = read_qa_file(path)
    assert problems == []
    assert [(e["id"], e["is_impossible"], e["answers"]) for e in examples] == [
        ("a", False, [{"text": "Hartfield", "answer_start": 24}]), ("b", True, [])]


def test_bad_records_are_counted_and_named(tmp_path):
    path = squad_file(tmp_path, [
        {"id": "ok", "question": "Who?", "answers": [{"text": "Emma", "answer_start": 0}]},
        {"id": "shifted", "question": "Where?", "answers": [{"text": "Hartfield", "answer_start": 23}]},
        {"question": "No id?", "answers": [{"text": "Emma", "answer_start": 0}]},
        {"id": "ok", "question": "Again?", "answers": [{"text": "Emma", "answer_start": 0}]},
        {"id": "none", "question": "Nothing?", "answers": []},
        {"id": "text", "question": "Bad?", "answers": [{"answer_start": 0}]},
        {"id": "far", "question": "Far?", "answers": [{"text": "", "answer_start": 1_000_000}]},
        {"id": "past", "question": "Past?", "answers": [{"text": "Emma W", "answer_start": 44}]},
        {"id": "list", "question": "List?", "answers": ["Emma"]},
    ])
    examples, problems = read_squad(path)
    assert [e["id"] for e in examples] == ["ok"]
    where = "data[0].paragraphs[0].qas"
    assert problems == [
        f"{path}: {where}[1] (id 'shifted'): answer 'Hartfield' does not match the context at 23 (' Hartfiel')",
        f"{path}: {where}[2] (id None): missing or empty 'id'",
        f"{path}: {where}[3] (id 'ok'): duplicate id 'ok'",
        f"{path}: {where}[4] (id 'none'): no answer in the context (and not marked is_impossible)",
        f"{path}: {where}[5] (id 'text'): answer without a text and an integer answer_start: {{'answer_start': 0}}",
        f"{path}: {where}[6] (id 'far'): answer '' at 1000000 is empty or runs past the context (47 characters)",
        f"{path}: {where}[7] (id 'past'): answer 'Emma W' at 44 is empty or runs past the context (47 characters)",
        f"{path}: {where}[8]: 'answers' is not a list of objects",
    ]
    with pytest.raises(ValueError, match="id 'shifted'.*does not match"):
        read_squad(path, strict=True)


def test_not_json_and_not_squad_name_the_file_and_line(tmp_path):
    broken = write(tmp_path / "broken.json", '{"data": [\n  {"paragraphs": }\n]}')
    with pytest.raises(ValueError, match=r"broken.json: line 2: not valid JSON"):
        read_squad(broken)
    other = write(tmp_path / "other.json", '{"rows": []}')
    with pytest.raises(ValueError, match="no top-level 'data' list"):
        read_squad(other)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        read_qa_file(tmp_path / "missing.json")


def test_mrqa_jsonl_gzip_with_inclusive_spans_and_bad_lines(tmp_path):
    lines = [
        {"header": {"dataset": "SQuAD", "split": "dev"}},
        {"context": CONTEXT, "qas": [
            {"qid": "m1", "question": "Where?", "answers": ["Hartfield", "at Hartfield"],
             "detected_answers": [{"text": "Hartfield", "char_spans": [[24, 32]], "token_spans": [[4, 4]]}]},
            {"qid": "m2", "question": "Who?", "answers": ["Emma"],
             "detected_answers": [{"text": "Emma", "char_spans": [[1, 4]]}]},
        ]},
    ]
    path = tmp_path / "dev.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    examples, problems = read_qa_file(str(path))
    assert examples == [{"id": "m1", "question": "Where?", "context": CONTEXT, "is_impossible": False,
                         "answers": [{"text": "Hartfield", "answer_start": 24},
                                     {"text": "at Hartfield", "answer_start": -1}]}]
    assert problems == [
        f"{path}: line 2 qas[1] (id 'm2'): answer 'Emma' does not match the context at 1..4 ('mma ')",
        f"{path}: line 3: not valid JSON: Expecting value",
    ]
    with pytest.raises(ValueError, match="line 2 qas\\[1\\]"):
        read_mrqa(str(path), strict=True)


def mrqa_file(tmp_path, qas, name="bad.jsonl", context=CONTEXT, tokens=None):
    line = {"context": context, "qas": qas}
    if tokens is not None:
        line["context_tokens"] = tokens
    return write(tmp_path / name, json.dumps({"header": {}}) + "\n" + json.dumps(line) + "\n")


def mrqa_qa(qid, char_spans, token_spans=None, text=None, answers=("Hartfield",)):
    detected = {"char_spans": char_spans}
    if text is not None:
        detected["text"] = text
    if token_spans is not None:
        detected["token_spans"] = token_spans
    answers = answers if isinstance(answers, str) else list(answers)
    return {"qid": qid, "question": "Where?", "answers": answers, "detected_answers": [detected]}


def test_mrqa_malformed_spans_are_counted_named_and_skipped(tmp_path):
    tokens = [[w, CONTEXT.index(w)] for w in ("Emma", "Woodhouse", "lived", "at", "Hartfield")]
    qas = [
        mrqa_qa("ok", [[24, 32]], [[4, 4]], text="hartfield"),  # MRQA's text is normalised
        mrqa_qa("arity", [[24, 28, 32]]),
        mrqa_qa("strings", [["24", "32"]]),
        mrqa_qa("float", [[24.0, 32]]),
        mrqa_qa("bool", [[True, 32]]),
        mrqa_qa("past", [[40, 60]]),
        mrqa_qa("negative", [[-3, 2]]),
        mrqa_qa("empty-beyond", [[60, 59]]),
        mrqa_qa("not-a-list", 17),
        mrqa_qa("tokens-arity", [[24, 32]], [[4]]),
        mrqa_qa("tokens-past", [[24, 32]], [[4, 9]]),
        mrqa_qa("tokens-type", [[24, 32]], "4-4"),
        mrqa_qa("answers-str", [[24, 32]], answers="Hartfield"),
        {"qid": "detected-dict", "question": "Where?", "answers": [], "detected_answers": {"a": 1}},
        mrqa_qa("shifted", [[23, 31]], text="Hartfield"),
    ]
    path = mrqa_file(tmp_path, qas, tokens=tokens)
    examples, problems = read_mrqa(path)
    assert [e["id"] for e in examples] == ["ok"]
    assert examples[0]["answers"] == [{"text": "Hartfield", "answer_start": 24}]
    where = [p.split(": ")[1] for p in problems]
    assert where == [f"line 2 qas[{i}] (id {qa['qid']!r})" for i, qa in enumerate(qas)][1:]
    assert all(p.startswith(f"{path}: ") for p in problems)
    why = [p.split(": ", 2)[2] for p in problems]
    assert why[:4] == [f"char_spans entry {s!r} is not a [start, end] pair of integers"
                       for s in ([24, 28, 32], ["24", "32"], [24.0, 32], [True, 32])]
    assert why[4:7] == ["char_spans entry [40, 60] is outside the context (47 chars)",
                        "char_spans entry [-3, 2] is outside the context (47 chars)",
                        "char_spans entry [60, 59] is empty (end before start)"]
    assert why[7] == "detected answer without char_spans: {'char_spans': 17}"
    assert why[8:10] == ["token_spans entry [4] is not a [start, end] pair of integers",
                         "token_spans entry [4, 9] is outside the context (5 tokens)"]
    assert why[10:] == ["token_spans is not a list: '4-4'",
                        "'answers' is not a list of strings: 'Hartfield'",
                        "'detected_answers' is not a list: {'a': 1}",
                        "answer 'Hartfield' does not match the context at 23..31 (' Hartfiel')"]
    with pytest.raises(ValueError, match=r"line 2 qas\[1\] \(id 'arity'\): char_spans entry"):
        read_mrqa(path, strict=True)


def test_mrqa_lists_every_occurrence_by_position(tmp_path):
    """The first located answer (what training uses) is the earliest span of any detected answer."""
    context = "Hartfield at Hartfield, near Highbury: Emma at Hartfield."
    detected = [{"text": "at Hartfield", "char_spans": [[44, 55], [10, 21]]},
                {"text": "Hartfield", "char_spans": [[47, 55], [0, 8]]}]
    spans = sorted(tuple(s) for d in detected for s in d["char_spans"])
    path = write(tmp_path / "train.jsonl", json.dumps({"context": context, "qas": [
        {"qid": "q", "question": "Where?", "answers": ["Hartfield", "Highbury Hartfield"],
         "detected_answers": detected}]}))
    (example,), problems = read_mrqa(path)
    assert problems == []
    assert example["answers"] == [{"text": context[s : e + 1], "answer_start": s} for s, e in spans] + [
        {"text": "Highbury Hartfield", "answer_start": -1}]


def test_a_context_past_the_limit_is_a_bad_record(tmp_path):
    from spanbert_keras.data.qa_features import MAX_CONTEXT_CHARACTERS

    long_context = CONTEXT + " x" * MAX_CONTEXT_CHARACTERS
    path = squad_file(tmp_path, [
        {"id": "long", "question": "Who?", "answers": [{"text": "Emma", "answer_start": 0}]},
    ], context=long_context)
    examples, problems = read_squad(path)
    assert examples == [] and len(problems) == 1
    assert f"a context of {len(long_context):,} characters, more than the 100,000 read" in problems[0]
