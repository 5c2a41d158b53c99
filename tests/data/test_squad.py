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
        f"{path}: line 2 qas[1]: answer 'Emma' does not match the context at 1..4 ('mma ')",
        f"{path}: line 3: not valid JSON: Expecting value",
    ]
    with pytest.raises(ValueError, match="line 2 qas\\[1\\]"):
        read_mrqa(str(path), strict=True)
