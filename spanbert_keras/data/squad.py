"""Readers of extractive question-answering data: SQuAD v1.1 / v2.0 JSON and MRQA jsonl.

Every reader returns `(examples, problems)`. An example is a dict:

- `id`: str, unique in the file;
- `question`: str;
- `context`: str, the passage;
- `answers`: list of dicts `{"text": str, "answer_start": int}`, character
  offsets into `context` (`context[answer_start:answer_start + len(text)] ==
  text`); `answer_start` is -1 for an MRQA gold answer that was not found in
  the passage (scored, never trained on). Empty for an unanswerable question.
  Training uses the first one with `answer_start >= 0` (MRQA: the earliest
  span, the readers list MRQA's occurrences by position);
- `is_impossible`: bool, SQuAD v2.0's unanswerable questions.

`problems` lists one line per skipped record, naming the file and the record
(its path in the JSON, or its line in a jsonl file) and what is wrong: a
missing field, an answer whose offset does not match its text, a duplicate
id, an answerable question without an answer. With `strict=True` the first
problem raises `ValueError` instead. Nothing is dropped silently.
"""

import json
import os

from spanbert_keras.data.bad_records import BadRecords
from spanbert_keras.data.qa_features import MAX_CONTEXT_CHARACTERS
from spanbert_keras.files import read_json
from spanbert_keras.metrics.squad import normalize_answer

MRQA_SUFFIXES = (".jsonl", ".jsonl.gz")


def read_qa_file(path, strict=False):
    """Reads SQuAD JSON (v1.1 or v2.0) or MRQA jsonl, chosen by the file name.

    `.jsonl` / `.jsonl.gz` files are MRQA; anything else SQuAD JSON.

    Returns:
        `(examples, problems)` (see the module docstring).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"QA data file not found: {path}")
    if path.endswith(MRQA_SUFFIXES):
        return read_mrqa(path, strict)
    return read_squad(path, strict)


class _Collector:
    """Examples and problems of one file (strict: the first problem raises)."""

    def __init__(self, path, strict):
        self.bad = BadRecords(path, strict)
        self.problem = self.bad.add
        self.examples, self.ids = [], set()

    @property
    def problems(self):
        return self.bad.lines

    def add(self, where, qid, question, context, answers, is_impossible):
        for name, value in (("id", qid), ("question", question), ("context", context)):
            if not isinstance(value, str) or (name != "context" and not value.strip()):
                return self.problem(where, f"missing or empty {name!r}")
        if qid in self.ids:
            return self.problem(where, f"duplicate id {qid!r}")
        if len(context) > MAX_CONTEXT_CHARACTERS:
            return self.problem(where, f"a context of {len(context):,} characters, more than "
                                       f"the {MAX_CONTEXT_CHARACTERS:,} read; split it")
        checked = []
        for answer in answers:
            text, start = answer.get("text"), answer.get("answer_start")
            if not isinstance(text, str) or isinstance(start, bool) or not isinstance(start, int):
                return self.problem(where, f"answer without a text and an integer answer_start: {answer!r}")
            if start >= 0 and (not text.strip() or start + len(text) > len(context)):
                return self.problem(
                    where, f"answer {text[:40]!r} at {start} is empty or runs past the context "
                           f"({len(context):,} characters)"
                )
            if start >= 0 and context[start : start + len(text)] != text:
                found = context[start : start + len(text)]
                return self.problem(
                    where, f"answer {text!r} does not match the context at {start} ({found!r})"
                )
            checked.append({"text": text, "answer_start": start})
        if is_impossible and any(a["answer_start"] >= 0 for a in checked):
            return self.problem(where, "is_impossible but has answers")
        if not is_impossible and not any(a["answer_start"] >= 0 for a in checked):
            return self.problem(where, "no answer in the context (and not marked is_impossible)")
        self.ids.add(qid)
        self.examples.append(
            {
                "id": qid,
                "question": question,
                "context": context,
                "answers": checked,
                "is_impossible": bool(is_impossible),
            }
        )


def read_squad(path, strict=False):
    """Reads a SQuAD v1.1 / v2.0 JSON file (`{"data": [{"paragraphs": [...]}]}`).

    v2.0's unanswerable questions (`is_impossible: true`, `answers: []`) are
    kept with `is_impossible=True`; their `plausible_answers` are ignored.

    Example:

    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.json")
    >>> paragraph = {"context": "Emma lived at Hartfield.", "qas": [
    ...     {"id": "q1", "question": "Where?", "answers": [{"text": "Hartfield", "answer_start": 14}]},
    ...     {"id": "q2", "question": "Who?", "answers": [{"text": "Emma", "answer_start": 3}]}]}
    >>> with open(path, "w") as f:
    ...     _ = f.write(json.dumps({"data": [{"paragraphs": [paragraph]}]}))
    >>> examples, problems = read_squad(path)
    >>> [e["id"] for e in examples], len(problems)
    (['q1'], 1)
    >>> problems[0].split(": ", 2)[2]
    "answer 'Emma' does not match the context at 3 ('a li')"
    """
    collector = _Collector(path, strict)
    root = read_json(path)
    data = root.get("data") if isinstance(root, dict) else None
    if not isinstance(data, list):
        raise ValueError(f"{path}: not a SQuAD file (no top-level 'data' list)")
    for a, article in enumerate(data):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            collector.problem(f"data[{a}]", "no 'paragraphs' list")
            continue
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(qas, list):
                collector.problem(where, "no 'qas' list")
                continue
            context = paragraph.get("context")
            for q, qa in enumerate(qas):
                if not isinstance(qa, dict):
                    collector.problem(f"{where}.qas[{q}]", "not an object")
                    continue
                answers = qa.get("answers", [])
                if not isinstance(answers, list) or not all(isinstance(x, dict) for x in answers):
                    collector.problem(f"{where}.qas[{q}]", "'answers' is not a list of objects")
                    continue
                collector.add(
                    f"{where}.qas[{q}] (id {qa.get('id')!r})",
                    qa.get("id"),
                    qa.get("question"),
                    context,
                    answers,
                    bool(qa.get("is_impossible", False)),
                )
    return collector.examples, collector.problems


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _span_problem(span, size, what):
    """Why `span` is not an inclusive `[start, end]` inside `size` items, or None."""
    if not isinstance(span, list) or len(span) != 2 or not all(_is_int(x) for x in span):
        return f"{what} entry {span!r} is not a [start, end] pair of integers"
    start, end = span
    if end < start:
        return f"{what} entry {span!r} is empty (end before start)"
    if start < 0 or (size is not None and end >= size):
        return f"{what} entry {span!r} is outside the context ({size} {what.split('_')[0]}s)"
    return None


def _mrqa_answers(qa, context, context_tokens):
    """`(answers, problem)` of one MRQA question: its located spans by position, then the rest.

    Every `char_spans` entry of every detected answer becomes an answer
    `{"text": context[start:end + 1], "answer_start": start}`, sorted by
    (start, end), so the first is the earliest span, the one the authors'
    `run_mrqa.py` trains on; gold strings of `answers` not found follow with
    `answer_start=-1`.
    """
    detected_answers = qa.get("detected_answers")
    if detected_answers is None:
        detected_answers = []
    if not isinstance(detected_answers, list):
        return None, f"'detected_answers' is not a list: {detected_answers!r}"
    golds = qa.get("answers")
    if golds is None:
        golds = []
    if not isinstance(golds, list) or not all(isinstance(t, str) for t in golds):
        return None, f"'answers' is not a list of strings: {golds!r}"
    if not isinstance(context, str):
        return [], None  # the collector names the missing context
    located = {}
    tokens = len(context_tokens) if isinstance(context_tokens, list) else None
    for detected in detected_answers:
        spans = detected.get("char_spans") if isinstance(detected, dict) else None
        if not isinstance(spans, list) or not spans:
            return None, f"detected answer without char_spans: {detected!r}"
        token_spans = detected.get("token_spans")
        if token_spans is not None:
            if not isinstance(token_spans, list):
                return None, f"token_spans is not a list: {token_spans!r}"
            for span in token_spans:
                problem = _span_problem(span, tokens, "token_spans")
                if problem:
                    return None, problem
        text = detected.get("text")
        for span in spans:
            problem = _span_problem(span, len(context), "char_spans")
            if problem:
                return None, problem
            start, end = span
            found = context[start : end + 1]
            # MRQA's detected text is "normalised": compare as the official scorer does.
            if text is not None and (not isinstance(text, str)
                                     or normalize_answer(text) != normalize_answer(found)):
                return None, (f"answer {text!r} does not match the context at {start}..{end} "
                              f"({found!r})")
            located[(start, end)] = found
    answers = [{"text": located[key], "answer_start": key[0]} for key in sorted(located)]
    known = set(located.values())
    answers += [{"text": t, "answer_start": -1} for t in golds if t not in known]
    return answers, None


def read_mrqa(path, strict=False):
    """Reads an MRQA shared-task jsonl file (optionally gzipped).

    The first line may be the `{"header": ...}` line. Each other line is a
    context with its `qas`; an answer's occurrences are its
    `detected_answers[].char_spans` (inclusive ends, as MRQA writes them).
    The located answers are listed by position, every occurrence of every
    detected answer, so training uses the earliest one (the authors'
    `run_mrqa.py`); a gold string of `answers` with no detected occurrence is
    kept for scoring with `answer_start=-1`. A malformed span (not a pair of
    integers, empty, outside the context or, for `token_spans`, outside
    `context_tokens`) or a detected text that does not match its span (after
    the official normalisation) makes the question a bad record.

    Example:

    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "dev.jsonl")
    >>> line = {"context": "At Hartfield lived Emma, at Hartfield.", "qas": [{"qid": "q1",
    ...     "question": "Where?", "answers": ["Hartfield", "at Hartfield"],
    ...     "detected_answers": [{"text": "at Hartfield", "char_spans": [[25, 36]]},
    ...                          {"text": "Hartfield", "char_spans": [[28, 36], [3, 11]]}]}]}
    >>> with open(path, "w") as f:
    ...     _ = f.write(json.dumps({"header": {}}) + "\\n" + json.dumps(line) + "\\n")
    >>> examples, problems = read_mrqa(path)
    >>> examples[0]["answers"]  # doctest: +NORMALIZE_WHITESPACE
    [{'text': 'Hartfield', 'answer_start': 3}, {'text': 'at Hartfield', 'answer_start': 25},
     {'text': 'Hartfield', 'answer_start': 28}]
    """
    import gzip

    collector = _Collector(path, strict)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        try:
            lines = list(f)
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not UTF-8 text ({error.reason})") from None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as error:
            collector.problem(f"line {number}", f"not valid JSON: {error.msg}")
            continue
        except RecursionError:  # a record is skipped here, as every other bad record
            collector.problem(f"line {number}", "JSON nested too deeply to read")
            continue
        if not isinstance(record, dict) or "header" in record:
            continue
        context, qas = record.get("context"), record.get("qas")
        if not isinstance(qas, list):
            collector.problem(f"line {number}", "no 'qas' list")
            continue
        for q, qa in enumerate(qas):
            where = f"line {number} qas[{q}]"
            if not isinstance(qa, dict):
                collector.problem(where, "not an object")
                continue
            where = f"{where} (id {qa.get('qid')!r})"
            answers, problem = _mrqa_answers(qa, context, record.get("context_tokens"))
            if problem is not None:
                collector.problem(where, problem)
                continue
            collector.add(where, qa.get("qid"), qa.get("question"), context, answers, False)
    return collector.examples, collector.problems
