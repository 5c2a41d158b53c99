"""The authors' fine-tuned SQuAD and TACRED models import as fine-tuning runs: the logits equal
their PyTorch modules', the labels come out in their order, and the export answers alike
in a process without our package."""

import collections
import json
import os

import numpy as np
import pytest
import torch
from qa_data import crafted_examples
from qa_data import squad_json
from task_data import load_without_package
from task_data import tacred_records
from task_data import write_tacred
from torch_reference import bert_config
from torch_reference import randomized

from spanbert_keras.cli import main
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.data.vocabulary import build_vocabulary
from spanbert_keras.finetuning.runner import load_finetuned

HIDDEN = 16


def write_authors_finetuned(folder, vocabulary, head, num_outputs, max_positions, seed=0):
    """A fine-tuned model as the authors' `run_squad.py` / `run_tacred.py` save it.

    `pytorch_model.bin` in torch's legacy format: their `BertModel` (always
    with a pooler) under `bert.*` and the task head (`qa_outputs` or
    `classifier`); their `config.json` (no `architectures`, no
    `model_type`); `vocab.txt`. Returns the PyTorch `(bert, head)` modules.
    """
    import transformers

    config = bert_config(vocab_size=vocabulary.size, max_position_embeddings=max_positions)
    torch.manual_seed(seed)
    bert = randomized(transformers.BertModel(config), seed)
    linear = randomized(torch.nn.Linear(HIDDEN, num_outputs), seed + 1)
    state = {f"bert.{k}": v for k, v in bert.state_dict().items()
             if k != "embeddings.position_ids"}
    state.update({f"{head}.{k}": v for k, v in linear.state_dict().items()})
    os.makedirs(folder, exist_ok=True)
    torch.save(state, os.path.join(folder, "pytorch_model.bin"),
               _use_new_zipfile_serialization=False)
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "hidden_act", "intermediate_size", "hidden_dropout_prob",
            "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
            "initializer_range")
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump({k: config.to_dict()[k] for k in keys}, f, indent=2)
    vocabulary.save(os.path.join(folder, "vocab.txt"))
    return bert, linear


def torch_inputs(x):
    return {"input_ids": torch.tensor(np.asarray(x["token_ids"]), dtype=torch.long),
            "token_type_ids": torch.tensor(np.asarray(x["segment_ids"]), dtype=torch.long),
            "attention_mask": torch.tensor(np.asarray(x["padding_mask"]), dtype=torch.long)}


@pytest.fixture(scope="module")
def squad_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("squad-finetuned")
    examples = crafted_examples()
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(e["question"] + "\n" + e["context"] for e in examples),
                      encoding="utf-8")
    vocabulary = build_vocabulary([corpus], vocab_size=300, min_frequency=1, show_progress=False)
    bert, qa = write_authors_finetuned(str(root / "squad1"), vocabulary, "qa_outputs", 2, 512)
    dev = root / "dev-v1.1.json"
    dev.write_text(squad_json(examples), encoding="utf-8")
    return {"root": root, "path": str(root / "squad1"), "bert": bert, "qa": qa,
            "examples": examples, "dev": str(dev)}


def test_squad_model_imports_with_their_logits_and_exports(squad_checkpoint, tmp_path, capsys):
    run = str(tmp_path / "squad-run")
    assert main(["import", squad_checkpoint["path"], "--task", "squad", "--output", run,
                 "--dev", squad_checkpoint["dev"]]) == 0
    printed = capsys.readouterr().out
    assert "encoder, pooler and the qa_outputs head from the file" in printed
    metrics = json.loads(printed.strip().splitlines()[-1])
    assert set(metrics) >= {"exact_match", "f1"}
    assert sorted(os.listdir(run)) == [
        ".spanbert-keras-output", "config.yaml", "imported.json", "metrics.json", "model.keras",
        "predictions.json", "task.json", "vocab.sha256", "vocab.txt"]
    task, config, task_info, vocabulary, model = load_finetuned(run)
    assert config.sequence_length == 512 and config.options.get("version_2") in (None, False)

    # Start / end logits equal BertForQuestionAnswering's at every real position.
    x, _ = next(iter(task.dataset(squad_checkpoint["examples"], vocabulary, task_info, config,
                                  training=False)))[:2]
    ours = model({k: x[k] for k in ("token_ids", "segment_ids", "padding_mask")})
    with torch.no_grad():
        sequence = squad_checkpoint["bert"](**torch_inputs(x)).last_hidden_state
        theirs = squad_checkpoint["qa"](sequence).numpy()
    real = np.asarray(x["padding_mask"]).astype(bool)
    assert real.sum() > 500
    np.testing.assert_allclose(np.asarray(ours["start_logits"])[real], theirs[..., 0][real], atol=1e-5)
    np.testing.assert_allclose(np.asarray(ours["end_logits"])[real], theirs[..., 1][real], atol=1e-5)

    # evaluate re-scores it to the same metrics; export serves the same answers.
    assert main(["evaluate", "--run", run, "--dev", squad_checkpoint["dev"]]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == metrics
    assert main(["evaluate", "--run", run, "--dev", squad_checkpoint["dev"]]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == metrics
    export_dir = str(tmp_path / "saved_models" / "spanbert-squad" / "1")
    assert main(["export", "--run", run, "--output", export_dir]) == 0
    examples = squad_checkpoint["examples"]
    report, outputs = load_without_package(export_dir, {
        "serving_default/question": np.array([e["question"].encode("utf-8") for e in examples]),
        "serving_default/context": np.array([e["context"].encode("utf-8") for e in examples]),
    }, tmp_path)
    assert report["imported"]["spanbert_keras"] is False
    with open(os.path.join(run, "predictions.json"), encoding="utf-8") as f:
        predictions = json.load(f)
    answers = [a.decode("utf-8") for a in outputs["serving_default/answer"]]
    assert answers == [predictions[e["id"]] for e in examples]


def bert_cased_layout(words):
    """A vocabulary laid out as BERT-cased's: [PAD], [unused1..], [UNK], [CLS], [SEP], [MASK]."""
    return Vocabulary(["[PAD]"] + [f"[unused{i}]" for i in range(1, 21)]
                      + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(words))


def test_tacred_model_imports_with_their_logits_and_label_order(tmp_path, capsys):
    from task_data import PIECES
    from task_data import WORDS

    train = tacred_records(120, seed=3, prefix="t")
    dev = tacred_records(24, seed=4, prefix="d")
    train_file = write_tacred(tmp_path / "train.json", train)
    dev_file = write_tacred(tmp_path / "dev.json", dev)
    vocabulary = bert_cased_layout(list(PIECES) + [w for w in WORDS if w not in PIECES])
    # Their labels: no_relation first, then by descending training frequency.
    counts = collections.Counter(r["relation"] for r in train)
    labels = ["no_relation"] + [label for label, _ in counts.most_common()
                                if label != "no_relation"]
    checkpoint = str(tmp_path / "tacred")
    bert, classifier = write_authors_finetuned(checkpoint, vocabulary, "classifier",
                                               len(labels), 128, seed=7)
    run = str(tmp_path / "tacred-run")
    assert main(["import", checkpoint, "--task", "tacred", "--output", run]) == 2
    assert "needs --train and --dev" in capsys.readouterr().err
    assert not os.path.exists(run)
    assert main(["import", checkpoint, "--task", "tacred", "--output", run,
                 "--train", train_file, "--dev", dev_file]) == 0
    capsys.readouterr()
    task, config, task_info, vocabulary, model = load_finetuned(run)
    assert task_info["labels"] == labels
    assert config.sequence_length == 128

    dev_examples, _ = task.read(dev_file)
    x, _ = next(iter(task.dataset(dev_examples, vocabulary, task_info, config, training=False)))[:2]
    ours = np.asarray(model({k: x[k] for k in ("token_ids", "segment_ids", "padding_mask")}))
    with torch.no_grad():
        theirs = classifier(bert(**torch_inputs(x)).pooler_output).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)

    export_dir = str(tmp_path / "saved_models" / "spanbert-tacred" / "1")
    assert main(["export", "--run", run, "--output", export_dir]) == 0
    width = max(len(r["token"]) for r in dev)
    report, outputs = load_without_package(export_dir, {
        "serving_default/tokens": np.array([r["token"] + [""] * (width - len(r["token"]))
                                            for r in dev], object),
        **{f"serving_default/{k}": np.array([r[k] for r in dev], "int32")
           for k in ("subj_start", "subj_end", "obj_start", "obj_end")},
        **{f"serving_default/{k}": np.array([r[k] for r in dev], object)
           for k in ("subj_type", "obj_type")},
    }, tmp_path)
    assert report["imported"]["spanbert_keras"] is False
    batch = len(theirs)
    served = [label.decode("utf-8") for label in outputs["serving_default/label"][:batch]]
    assert served == [labels[i] for i in theirs.argmax(-1)]


def test_a_checkpoint_without_the_task_head_is_refused(squad_checkpoint, tmp_path, capsys):
    train = write_tacred(tmp_path / "train.json", tacred_records(8, seed=1))
    run = str(tmp_path / "run")
    assert main(["import", squad_checkpoint["path"], "--task", "tacred", "--output", run,
                 "--train", train, "--dev", train]) == 2
    err = capsys.readouterr().err
    assert "is not a fine-tuned tacred model: it lacks `classifier.weight`" in err
    assert not os.path.exists(run)
