"""Small extractive-QA data the tests write themselves (nothing is downloaded).

- `synthetic_squad(n, seed)`: a learnable task. Each passage tells the colour
  of one animal among filler sentences; the question asks for the colour or
  for the animal, so the answer follows from the passage and the question.
- `crafted_examples()`: hand-made cases for the offset round trip: long
  passages over several windows, answers at window edges, accents, CJK,
  emoji, several gold answers.
- `squad_json(examples)`: SQuAD v1.1 / v2.0 JSON of example dicts.
"""

import json
import random

COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "black", "white", "grey", "pink")
ANIMALS = ("cat", "dog", "horse", "cow", "fox", "owl", "bee", "frog", "goat", "duck")
NAMES = ("Emma", "Harriet", "Jane", "Frank", "Anne", "Robert", "Mary", "George")
PLACES = ("garden", "river", "village", "house", "church", "meadow", "road", "hill")
VERBS = ("walked to", "looked at", "painted", "visited", "spoke of", "left")


def _filler(rng):
    return f"{rng.choice(NAMES)} {rng.choice(VERBS)} the {rng.choice(PLACES)}."


def synthetic_squad(n, seed=0, prefix="q"):
    """`n` example dicts of the colour / animal task (see the module docstring)."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        animal, colour = rng.choice(ANIMALS), rng.choice(COLOURS)
        sentences = [_filler(rng) for _ in range(rng.randint(1, 4))]
        fact = f"The {animal} was {colour}."
        sentences.insert(rng.randint(0, len(sentences)), fact)
        context = " ".join(sentences)
        fact_at = context.index(fact)
        if rng.random() < 0.5:
            question, answer = f"What colour was the {animal}?", colour
            start = fact_at + len(f"The {animal} was ")
        else:
            question, answer = f"Which animal was {colour}?", animal
            start = fact_at + len("The ")
        examples.append({"id": f"{prefix}{i}", "question": question, "context": context,
                         "answers": [{"text": answer, "answer_start": start}],
                         "is_impossible": False})
    return examples


LONG = " ".join(f"Sentence {i} tells of {NAMES[i % len(NAMES)]} and the {PLACES[i % len(PLACES)]}."
                for i in range(40))


def _example(qid, question, context, answers, is_impossible=False):
    found = []
    for text in answers:
        start = context.index(text)
        found.append({"text": text, "answer_start": start})
    return {"id": qid, "question": question, "context": context, "answers": found,
            "is_impossible": is_impossible}


def crafted_examples():
    """Hand-made examples: every gold span must survive tokens -> characters."""
    long_last = LONG + " At the very end stood Donwell Abbey."
    examples = [
        _example("start", "Who?", "Emma Woodhouse, handsome, clever, and rich.", ["Emma Woodhouse"]),
        _example("end", "Where?", "They lived at Hartfield", ["Hartfield"]),
        _example("punct", "What?", "It was (in truth) a \"surprise\"!", ["(in truth)", "\"surprise\"!"]),
        _example("accents", "Who?", "La Señora Zoë Brontë visited the café in Zürich.",
                 ["Zoë Brontë", "café", "Zürich"]),
        _example("cjk", "Where?", "They flew to 東京 and then to Ōsaka by train.", ["東京", "Ōsaka"]),
        _example("emoji", "What?", "She sent 🎉 and a ☃ snowman 😀 today.", ["☃ snowman"]),
        _example("spaces", "What?", "Tabs\tand  double  spaces\nand newlines here.", ["double  spaces"]),
        _example("several", "Which?", "The Denver Broncos, or the Broncos, won.",
                 ["Denver Broncos", "Broncos", "the Broncos"]),
        _example("long_middle", "Who?", LONG, ["Sentence 17 tells of Harriet"]),
        _example("long_last", "What?", long_last, ["Donwell Abbey"]),
        _example("long_first", "What?", LONG, ["Sentence 0"]),
    ]
    # Answers at every position of a long passage: some fall at window edges.
    words = LONG.split(" ")
    at = 0
    for i, word in enumerate(words):
        if i % 7 == 3:
            examples.append({"id": f"edge{i}", "question": "Which word?", "context": LONG,
                             "answers": [{"text": word, "answer_start": at}],
                             "is_impossible": False})
        at += len(word) + 1
    return examples


def squad_json(examples, version="1.1"):
    """SQuAD JSON text of example dicts (one paragraph per example)."""
    paragraphs = []
    for e in examples:
        qa = {"id": e["id"], "question": e["question"], "answers": e["answers"]}
        if version == "2.0":
            qa["is_impossible"] = e["is_impossible"]
        paragraphs.append({"context": e["context"], "qas": [qa]})
    return json.dumps({"version": version, "data": [{"title": "t", "paragraphs": paragraphs}]},
                      ensure_ascii=False)
