"""`spanbert-keras coref-jsonlines`: CoNLL-2012 / jsonlines in, the authors' jsonlines out."""

import json
import os

import pytest
from test_cli import cli

from spanbert_keras import cli as command_line
from spanbert_keras.data.coref_jsonlines import write_coref_jsonlines
from spanbert_keras.data.coref_reader import read_coref
from spanbert_keras.data.coref_reader import read_coref_jsonlines
from spanbert_keras.data.vocabulary import SPECIAL_TOKENS
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.training.checkpointing import record_vocabulary

PIECES = list(SPECIAL_TOKENS) + ["Emma", "Wood", "##house", "smiled", ".", "She", "laughed",
                                 "sang"]


def conll_document(name, part, sentences):
    """A CoNLL-2012 document: sentences of `(word, coreference)`, speaker A."""
    lines = [f"#begin document ({name}); part {part:03d}"]
    for sentence in sentences:
        for index, (word, coref) in enumerate(sentence):
            lines.append(f"{name}  {part}  {index}  {word}  NNP  *  -  -  -  A  *  {coref}")
        lines.append("")
    return "\n".join(lines + ["#end document", ""])


GOOD = conll_document("tc/emma/00/emma_0001", 0, [
    [("Emma", "(0"), ("Woodhouse", "0)"), ("smiled", "-"), (".", "-")],
    [("She", "(0)"), ("laughed", "-"), (".", "-")],
]) + conll_document("tc/emma/00/emma_0001", 1, [[("Emma", "(1)"), ("sang", "-"), (".", "-")]])
# Part 2's second token line (line 20) has 3 columns: that document is skipped (a problem).
BAD = GOOD + """#begin document (tc/emma/00/emma_0001); part 002
tc/emma/00/emma_0001  2  0  Emma  NNP  *  -  -  -  A  *  (0)
tc/emma/00/emma_0001 2 1

#end document
"""


@pytest.fixture
def files(tmp_path):
    paths = {"root": tmp_path}
    for name, text in (("good", GOOD), ("bad", BAD)):
        paths[name] = str(tmp_path / f"{name}.english.v4_gold_conll")
        with open(paths[name], "w", encoding="utf-8") as f:
            f.write(text)
    paths["vocab"] = Vocabulary(PIECES).save(str(tmp_path / "vocab.txt"))
    return paths


def run(capsys, *argv):
    """`(status, stdout, stderr lines)` of the command run in this process."""
    status = command_line.main(["coref-jsonlines", *argv])
    out, err = capsys.readouterr()
    return status, out, err.strip().splitlines()


def test_the_command_writes_the_authors_jsonlines(files):
    output = str(files["root"] / "dev.english.8.jsonlines")
    result = cli("coref-jsonlines", files["good"], "--output", output, "--vocab", files["vocab"],
                 "--segment-length", "8")
    assert result.stdout.strip().splitlines()[-1] == (
        f"Wrote 2 documents (3 segments of at most 8 pieces, 3 mentions) to {output}; 0 bad "
        "record(s) skipped.")
    documents, _ = read_coref(files["good"], strict=True)
    expected = write_coref_jsonlines(documents, files["vocab"], files["root"] / "expected", 8)
    with open(output, "rb") as written, open(expected, "rb") as f:
        assert written.read() == f.read()
    with open(output, encoding="utf-8") as f:
        first = json.loads(f.readline())
    assert first["sentences"] == [["[CLS]", "Emma", "Wood", "##house", "smiled", ".", "[SEP]"],
                                  ["[CLS]", "She", "laughed", ".", "[SEP]"]]
    assert first["clusters"] == [[[1, 3], [8, 8]]]
    back, problems = read_coref_jsonlines(output, strict=True)
    assert problems == [] and [d["sentences"] for d in back] == [d["sentences"]
                                                                 for d in documents]


def test_an_output_that_is_an_input_is_refused_before_any_work(files, capsys):
    with open(files["good"], "rb") as f:
        before = f.read()
    for argv in (["--output", files["good"], "--vocab", files["vocab"]],
                 ["--output", files["vocab"], "--vocab", files["vocab"]]):
        status, out, err = run(capsys, files["good"], *argv)
        assert status == 2 and len(err) == 1 and "writing it would destroy what is read" in err[0]
    with open(files["good"], "rb") as f:
        assert f.read() == before
    assert Vocabulary.load(files["vocab"]).tokens == PIECES


def test_a_malformed_file_exits_2_with_strict_and_is_skipped_without(files, capsys):
    output = files["root"] / "out.jsonlines"
    status, out, err = run(capsys, files["bad"], "--output", str(output), "--vocab",
                           files["vocab"], "--strict")
    assert status == 2 and len(err) == 1, err
    assert f"{files['bad']}: line 20: 3 column(s), expected at least 5" in err[0]
    assert not output.exists()
    status, out, err = run(capsys, files["bad"], "--output", str(output), "--vocab",
                           files["vocab"])
    assert status == 0 and err == []
    assert f"1 bad record(s) skipped in {files['bad']}" in out
    assert out.strip().splitlines()[-1].startswith("Wrote 2 documents (")
    assert out.strip().endswith("; 1 bad record(s) skipped.")
    assert [d["id"] for d in read_coref_jsonlines(output)[0]] == ["tc/emma/00/emma_0001_0",
                                                                  "tc/emma/00/emma_0001_1"]


def test_a_document_in_two_inputs_is_written_once(files, capsys):
    output = files["root"] / "out.jsonlines"
    status, out, err = run(capsys, files["good"], files["bad"], "--output", str(output),
                           "--vocab", files["vocab"])
    assert status == 0 and "was read before" in out
    assert out.strip().endswith("; 3 bad record(s) skipped.")  # two repeats, one bad line
    assert len(read_coref_jsonlines(output)[0]) == 2
    status, out, err = run(capsys, files["good"], files["good"], "--output", str(output),
                           "--vocab", files["vocab"], "--strict")
    assert status == 2 and len(err) == 1 and "document tc/emma/00/emma_0001_0 was read" in err[0]


def test_init_takes_the_vocabulary_of_a_run_or_a_preset(files, capsys, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record_vocabulary(str(run_dir), Vocabulary(PIECES))
    output = tmp_path / "out.jsonlines"
    status, out, err = run(capsys, files["good"], "--output", str(output), "--init", str(run_dir))
    assert status == 0 and err == [] and "Wrote 2 documents" in out
    with open(output, encoding="utf-8") as f:
        assert "##house" in f.readline()
    status, out, err = run(capsys, files["good"], "--output", str(output), "--init",
                           "austen-tiny")
    assert status == 0 and err == []
    empty = tmp_path / "empty"
    empty.mkdir()
    status, out, err = run(capsys, files["good"], "--output", str(output), "--init", str(empty))
    assert status == 2 and len(err) == 1 and "No vocab.txt in" in err[0]
    os.remove(run_dir / "vocab.txt")
    Vocabulary(PIECES + ["extra"]).save(str(run_dir / "vocab.txt"))  # not the recorded one
    status, out, err = run(capsys, files["good"], "--output", str(output), "--init", str(run_dir))
    assert status == 2 and len(err) == 1 and "another vocabulary" in err[0]


def test_bad_options_are_refused(files, capsys):
    output = str(files["root"] / "out.jsonlines")
    status, out, err = run(capsys, files["good"], "--output", output, "--vocab", files["vocab"],
                           "--segment-length", "2")
    assert status == 2 and len(err) == 1 and "--segment-length must be at least 3" in err[0]
    status, out, err = run(capsys, str(files["root"] / "missing_conll"), "--output", output,
                           "--vocab", files["vocab"])
    assert status == 2 and len(err) == 1 and "missing_conll" in err[0]
    with pytest.raises(SystemExit) as exit_status:  # --vocab or --init, not both
        command_line.main(["coref-jsonlines", files["good"], "--output", output, "--vocab",
                           files["vocab"], "--init", "austen-tiny"])
    assert exit_status.value.code == 2
    assert not os.path.exists(output)
