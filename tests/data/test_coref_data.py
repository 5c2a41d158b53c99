"""The coreference corpus builder: CoNLL-2012 files whose clusters follow from the text.

The files are read back by a bracket parser of this module's own, not the builder's.
"""

import re

import pytest
from coref_data import PEOPLE
from coref_data import austen_path
from coref_data import coref_documents
from coref_data import tokenize
from coref_data import write_coref_corpus

SEED = 3
SIZES = {"train": 60, "dev": 30}
GENDER = {"he": "male", "him": "male", "his": "male", "she": "female", "her": "female",
          "they": "pair", "them": "pair", "their": "pair"}
FORBIDDEN = {"he", "him", "his", "himself", "she", "her", "hers", "herself", "they", "them",
             "their"}
NAMES = {name for name, _, _ in PEOPLE}
PERSON_GENDER = {text.lower(): gender for name, description, gender in PEOPLE
                 for text in (name, description)}
HEADER = re.compile(r"#begin document \(((bc|bn|mz|nw|pt|tc|wb)/austen/\d\d/doc_\d{4})\); "
                    r"part (\d{3})")
PIECE = re.compile(r"\((\d+)\)|\((\d+)|(\d+)\)")


def read_corpus(path):
    """{(name, part): {"genre", "sentences", "speakers", "clusters"}} of a CoNLL-2012 file."""
    documents = {}
    document = None
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if line.startswith("#begin document"):
                assert document is None
                match = HEADER.fullmatch(line)
                assert match, line
                key = (match.group(1), int(match.group(3)))
                document = {"genre": match.group(2), "sentences": [[]], "speakers": [[]],
                            "clusters": {}, "open": {}, "words": 0}
            elif line == "#end document":
                assert document["sentences"][-1] == [], "a blank line ends the last sentence"
                assert not any(document.pop("open").values()), "a mention left open"
                del document["sentences"][-1], document["speakers"][-1]
                clusters = document.pop("clusters").values()
                document["clusters"] = {frozenset(spans) for spans in clusters}
                assert key not in documents
                documents[key] = document
                document = None
            elif not line.strip():
                if document is not None:
                    assert document["sentences"][-1], "two blank lines"
                    document["sentences"].append([])
                    document["speakers"].append([])
            else:
                columns = line.split()
                assert len(columns) == 12, line
                assert (columns[0], int(columns[1])) == key
                assert int(columns[2]) == len(document["sentences"][-1])
                assert columns[4:9] == ["-"] * 5 and columns[10] == "*"
                document["sentences"][-1].append(columns[3])
                document["speakers"][-1].append(columns[9])
                position = document["words"]
                document["words"] += 1
                if columns[11] == "-":
                    continue
                for piece in columns[11].split("|"):
                    match = PIECE.fullmatch(piece)
                    assert match, piece
                    single, opening, closing = match.groups()
                    if single:
                        document["clusters"].setdefault(single, []).append((position, position))
                    elif opening:
                        document["open"].setdefault(opening, []).append(position)
                    else:
                        start = document["open"][closing].pop()
                        document["clusters"].setdefault(closing, []).append((start, position))
    assert document is None
    return documents


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coref")
    train, dev = write_coref_corpus(folder, num_train=SIZES["train"], num_dev=SIZES["dev"],
                                    seed=SEED)
    assert [p.rsplit("/", 1)[-1] for p in (str(train), str(dev))] == [
        "train.english.v4_gold_conll", "dev.english.v4_gold_conll"]
    return {"train": str(train), "dev": str(dev), "folder": folder}


@pytest.fixture(scope="module")
def documents():
    return {split: coref_documents(size, split, SEED) for split, size in SIZES.items()}


def mentions(document):
    """(start, end, cluster index, text) of every mention, in the document's order."""
    words = [w for s in document["sentences"] for w in s]
    found = [(start, end, k, " ".join(words[start:end + 1]))
             for k, cluster in enumerate(document["clusters"]) for start, end in cluster]
    return sorted(found)


def test_files_parse_into_the_planted_clusters(corpus, documents):
    for split in ("train", "dev"):
        read = read_corpus(corpus[split])
        made = documents[split]
        assert list(read) == [(d["name"], d["part"]) for d in made]
        for document in made:
            back = read[(document["name"], document["part"])]
            assert back["genre"] == document["genre"]
            assert back["sentences"] == document["sentences"]
            assert back["speakers"] == document["speakers"]
            planted = {frozenset(map(tuple, cluster)) for cluster in document["clusters"]}
            assert back["clusters"] == planted
            assert all(len(cluster) >= 2 for cluster in planted), "no singleton"
            words = [w for s in document["sentences"] for w in s]
            for cluster in document["clusters"]:
                assert cluster == sorted(cluster)
                assert all(0 <= start <= end < len(words) for start, end in cluster)
            assert [c[0] for c in document["clusters"]] == sorted(c[0] for c in document["clusters"])
    # Names are never shared between the splits; the pair's mention nests its members'.
    names = {split: {d["name"] for d in documents[split]} for split in documents}
    assert not names["train"] & names["dev"]
    with open(corpus["train"], encoding="utf-8") as f:
        assert any("|" in line.split()[-1] for line in f if line.strip() and line[0] != "#")


def test_every_person_mention_is_annotated(documents):
    """A name, a description or a pronoun anywhere in a document is a gold mention."""
    texts = sorted(PERSON_GENDER, key=lambda t: -len(t.split()))
    for document in documents["train"] + documents["dev"]:
        words = [w for s in document["sentences"] for w in s]
        lowered = [w.lower() for w in words]
        annotated = {(start, end) for start, end, _, _ in mentions(document)}
        for i in range(len(words)):
            if lowered[i] in GENDER:
                assert (i, i) in annotated, (document["id"], i, words[i])
            for text in texts:
                size = len(text.split())
                if " ".join(lowered[i:i + size]) == text:
                    assert (i, i + size - 1) in annotated, (document["id"], i, text)


def test_pronouns_refer_to_the_most_recent_person_of_their_gender(documents):
    pronouns = 0
    for document in documents["train"] + documents["dev"]:
        found = mentions(document)
        # The gender of each cluster, from its names and descriptions (or "pair").
        genders = {}
        for _, _, k, text in found:
            if " and " in f" {text} ":
                genders[k] = "pair"
            elif text.lower() in PERSON_GENDER:
                genders[k] = PERSON_GENDER[text.lower()]
        assert len(genders) == len(document["clusters"])
        for start, end, k, text in found:
            if start != end or text.lower() not in GENDER:
                continue
            pronouns += 1
            gender = GENDER[text.lower()]
            assert genders[k] == gender
            # One cluster of that gender in the document: the antecedent is unambiguous.
            assert sum(g == gender for g in genders.values()) == 1, document["id"]
            before = [m for m in found if m[1] < start and genders[m[2]] == gender]
            assert before, f"{document['id']}: {text} at {start} has no antecedent"
            assert before[-1][2] == k
            # The first mention of a person is the name, of a pair the two together.
            first = next(m for m in found if m[2] == k)
            assert first[3] in NAMES or (gender == "pair" and " and " in first[3])
    assert pronouns > 50


def test_fillers_are_real_sentences_without_people(documents):
    with open(austen_path(), encoding="utf-8") as f:
        text = " " + " \n ".join(" ".join(tokenize(line)) for line in f) + " "
    common = set(text.split())  # a capitalised first word is a common word, not a name
    names = {w.lower() for name, _, _ in PEOPLE for w in name.split()}
    fillers = {}
    for split in ("train", "dev"):
        fillers[split] = set()
        for document in documents[split]:
            spans = [span for cluster in document["clusters"] for span in cluster]
            first = 0
            for words, planted in zip(document["sentences"], document["planted"]):
                last = first + len(words) - 1
                if not planted:
                    assert 6 <= len(words) <= 30
                    assert not {w.lower() for w in words} & (FORBIDDEN | names), words
                    assert all(w == w.lower() or w == "I" or w.startswith("I'")
                               for w in words[1:]), words
                    assert words[0] == "I" or words[0].lower() in common, words
                    assert not any(first <= end and start <= last for start, end in spans)
                    assert f" {' '.join(words)} " in text, words
                    fillers[split].add(tuple(words))
                first = last + 1
        assert len(fillers[split]) > 100
    assert not fillers["train"] & fillers["dev"]


def test_documents_mix_fillers_and_planted_people(documents):
    for document in documents["train"]:
        assert 6 <= len(document["sentences"]) <= 26
        assert 0 < sum(document["planted"]) < len(document["sentences"])
        assert 2 <= len(document["clusters"]) <= 4
        assert all(len(w) == len(s) for w, s in zip(document["sentences"], document["speakers"]))
        speakers = {s for sentence in document["speakers"] for s in sentence}
        assert speakers == {"-"} or document["genre"] in ("tc", "bc")
    assert len({d["genre"] for d in documents["train"]}) == 7
    short = coref_documents(10, "train", SEED, sentences_per_document=(3, 4))
    assert all(len(d["sentences"]) <= 12 for d in short)


def test_multi_part_documents(corpus, documents):
    read = read_corpus(corpus["train"])
    parts = {}
    for name, part in read:
        parts.setdefault(name, []).append(part)
    assert [0, 1] in parts.values()
    assert all(p in ([0], [0, 1]) for p in parts.values())
    with open(corpus["train"], encoding="utf-8") as f:
        assert "; part 001\n" in f.read()


def test_deterministic_for_a_seed(corpus, tmp_path):
    again = write_coref_corpus(tmp_path / "again", num_train=SIZES["train"],
                               num_dev=SIZES["dev"], seed=SEED)
    for split, path in zip(("train", "dev"), again):
        with open(path, "rb") as f, open(corpus[split], "rb") as g:
            assert f.read() == g.read()
    assert coref_documents(20, "dev", SEED) == coref_documents(20, "dev", SEED)
    assert coref_documents(20, "dev", SEED) != coref_documents(20, "dev", SEED + 1)
