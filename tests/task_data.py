"""Small relation, classification and tagging data the tests write themselves.

Each task's labels follow from the text, so a tiny encoder can learn them:

- `tacred_records(n, seed)`: the relation is told by the verb between the
  entities ("born in" -> per:city_of_birth, "lives in" ->
  per:cities_of_residence, "visited" -> no_relation, "was founded by" ->
  org:founded_by);
- `sentiment_rows(n, seed)`: a sentence is "1" when it holds a positive
  word, "0" when a negative one (SST-2's layout);
- `ner_sentences(n, seed)`: names (B-PER, a surname I-PER), places (B-LOC)
  and houses (B-ORG) from closed lists among filler words; some words are
  several wordpieces (`Wood ##house`).

`VOCABULARY` holds every word; `write_encoder(folder)` saves a random tiny
encoder with its `vocab.txt` beside it, as `--init` takes it.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np

from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.models.span_bert_backbone import SpanBertBackbone

PEOPLE = ("Emma", "Harriet", "Jane", "Frank", "George", "Robert", "Isabella", "Philip")
SURNAMES = ("Woodhouse", "Knightley", "Fairfax", "Churchill", "Elton", "Martin")
CITIES = ("Highbury", "London", "Bath", "Weymouth", "Richmond", "Maple")
HOUSES = ("Hartfield", "Donwell", "Randalls", "Enscombe")
FILLER = ("the", "a", "then", "said", "and", "that", "very", "quite", "of", "to", "it", ".")
POSITIVE = ("good", "great", "lovely", "charming")
NEGATIVE = ("bad", "awful", "dull", "tiresome")
VERBS = {
    "born": "per:city_of_birth",
    "lives": "per:cities_of_residence",
    "visited": "no_relation",
    "founded": "org:founded_by",
}
PIECES = ("Wood", "##house", "Knight", "##ley", "Fair", "##fax", "Church", "##ill", "Hart",
          "##field", "Ens", "##combe", "Rich", "##mond", "Isa", "##bella", "tire", "##some",
          "charm", "##ing")
WORDS = sorted(
    {w for w in PEOPLE + SURNAMES + CITIES + HOUSES + FILLER + POSITIVE + NEGATIVE}
    | set(VERBS) | {"in", "was", "by", "met", "walked", "with"}
)
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Words spelt with the pieces above (each is two wordpieces).
COMPOSED = {p + q[2:] for p, q in zip(PIECES[::2], PIECES[1::2])}
VOCABULARY = Vocabulary(SPECIALS + [f"[unused{i}]" for i in range(1, 4)] + list(PIECES)
                        + [w for w in WORDS if w not in COMPOSED])


def _filler(rng, most):
    return [str(w) for w in rng.choice(FILLER[:-1], int(rng.integers(0, most + 1)))]


def tacred_records(n, seed=0, prefix="r"):
    """`n` TACRED records of the verb-tells-the-relation task."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        verb = str(rng.choice(list(VERBS)))
        if verb == "founded":
            subject, subject_type = [str(rng.choice(HOUSES))], "ORGANIZATION"
            middle = ["was", "founded", "by"]
            obj, obj_type = [str(rng.choice(PEOPLE)), str(rng.choice(SURNAMES))], "PERSON"
        else:
            subject, subject_type = [str(rng.choice(PEOPLE))], "PERSON"
            middle = [verb] + (["in"] if verb != "visited" else [])
            obj, obj_type = [str(rng.choice(CITIES))], "CITY"
        before = _filler(rng, 2)
        tokens = before + subject + _filler(rng, 1) + middle + obj + ["."]
        obj_start = len(tokens) - 1 - len(obj)
        records.append({
            "id": f"{prefix}{seed}-{i}", "token": tokens,
            "subj_start": len(before), "subj_end": len(before) + len(subject) - 1,
            "obj_start": obj_start, "obj_end": obj_start + len(obj) - 1,
            "subj_type": subject_type, "obj_type": obj_type, "relation": VERBS[verb],
        })
    return records


def sentiment_rows(n, seed=0):
    """`n` (sentence, label) pairs of the positive / negative word task."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        word = str(rng.choice(POSITIVE if label else NEGATIVE))
        words = _filler(rng, 3) + [str(rng.choice(PEOPLE)), "was", word] + _filler(rng, 2) + ["."]
        rows.append((" ".join(words), str(label)))
    return rows


def ner_sentences(n, seed=0):
    """`n` sentences, each a list of (word, tag)."""
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(n):
        sentence = [(w, "O") for w in _filler(rng, 2)]
        for _ in range(int(rng.integers(1, 4))):
            kind = int(rng.integers(0, 3))
            if kind == 0:
                sentence.append((str(rng.choice(PEOPLE)), "B-PER"))
                if rng.random() < 0.5:
                    sentence.append((str(rng.choice(SURNAMES)), "I-PER"))
            elif kind == 1:
                sentence.append((str(rng.choice(CITIES)), "B-LOC"))
            else:
                sentence.append((str(rng.choice(HOUSES)), "B-ORG"))
            sentence += [(w, "O") for w in _filler(rng, 2)]
        sentences.append(sentence + [(".", "O")])
    return sentences


def write_tacred(path, records):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(records, f)
    return str(path)


def write_tsv(path, rows, header=("sentence", "label")):
    lines = ["\t".join(header)] if header else []
    lines += ["\t".join(row) for row in rows]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


def write_conll(path, sentences):
    lines = ["-DOCSTART- -X- -X- O", ""]
    for sentence in sentences:
        lines += [f"{word} NN I-NP {tag}" for word, tag in sentence] + [""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return str(path)


def tiny_backbone(vocabulary=VOCABULARY, hidden=32, seed=0, max_sequence_length=32):
    keras.utils.set_random_seed(seed)
    return SpanBertBackbone(vocabulary_size=vocabulary.size, num_layers=2, num_heads=2,
                            hidden_dim=hidden, intermediate_dim=2 * hidden,
                            max_sequence_length=max_sequence_length, dropout=0.0)


def write_encoder(folder, vocabulary=VOCABULARY, **kwargs):
    """`folder/encoder.keras` (a random tiny encoder) and `folder/vocab.txt`; the .keras path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "encoder.keras")
    tiny_backbone(vocabulary, **kwargs).save(path)
    vocabulary.save(os.path.join(folder, "vocab.txt"))
    return path


def ner_run_files(root, train=48, dev=16):
    """NER training and dev files and a random tiny encoder under `root`: what `finetune` reads."""
    return {"train": write_conll(os.path.join(root, "train.txt"), ner_sentences(train, seed=1)),
            "dev": write_conll(os.path.join(root, "dev.txt"), ner_sentences(dev, seed=2)),
            "init": write_encoder(os.path.join(root, "init"))}


LOADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "export",
                      "load_without_package.py")


def load_without_package(model_dir, inputs, tmp_path):
    """Runs every signature of a text SavedModel in a fresh process that imports only
    tensorflow and tensorflow_text (`export/load_without_package.py`); returns its
    report and outputs (`SIGNATURE/OUTPUT` arrays)."""
    inputs_path, outputs_path = tmp_path / "inputs.npz", tmp_path / "outputs.npz"
    np.savez(inputs_path, **{k: v.astype(bytes) if v.dtype == object else v
                             for k, v in inputs.items()})
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, LOADER, "text", str(model_dir), str(inputs_path), str(outputs_path)],
        capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    with np.load(outputs_path) as data:
        return report, {k: data[k] for k in data.files}
