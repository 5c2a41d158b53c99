"""Fine-tuning settings from the command line: the task's defaults follow the options and the
training file given, numbers read in any usual notation, as for pre-training."""

import pytest

from spanbert_keras import cli
from spanbert_keras.config import apply_overrides
from spanbert_keras.config import load_config
from spanbert_keras.finetuning.runner import resolve_config
from spanbert_keras.tasks import get_task


def settings(*argv):
    args = cli._parser().parse_args(["finetune", *argv, "--dev", "dev", "--init", "i",
                                     "--output", "o"])
    # What the runner makes of the command's settings (before it knows the encoder).
    return resolve_config(get_task(args.task), cli._finetune_settings(args), args.train)


def test_defaults_follow_the_options_and_the_training_file(tmp_path):
    # The paper: GLUE 10 epochs, CoLA 4; QA windows of 512, MRQA scored 5 times an epoch.
    assert settings("glue", "--train", "RTE/train.tsv").epochs == 10
    assert settings("glue", "--train", "CoLA/train.tsv", "--set", "options.task=cola").epochs == 4
    config = tmp_path / "cola.yaml"
    config.write_text("options:\n  task: cola\n", encoding="utf-8")
    assert settings("glue", "--train", "t.tsv", "--config", str(config)).epochs == 4
    assert settings("glue", "--train", "t.tsv", "--config", str(config),
                    "--set", "epochs=3").epochs == 3  # what the user says wins
    squad = settings("squad", "--train", "train-v1.1.json")
    assert (squad.sequence_length, squad.eval_per_epoch) == (512, 1)
    mrqa = settings("squad", "--train", "SQuAD.jsonl.gz")
    assert (mrqa.sequence_length, mrqa.eval_per_epoch) == (512, 5)
    assert settings("tacred", "--train", "train.json").epochs == 10


@pytest.mark.parametrize("written", ["1e-3", "1.0e-3", "0.001", "1E-3"])
def test_a_learning_rate_in_any_notation_for_pretraining_and_finetuning(written, tmp_path):
    assert settings("ner", "--train", "t", "--set", f"learning_rate={written}").learning_rate == 1e-3
    # pre-training's spelling works for fine-tuning too
    assert settings("ner", "--train", "t", "--set",
                    f"training.learning_rate={written}").learning_rate == 1e-3
    finetune_yaml = tmp_path / "finetune.yaml"
    finetune_yaml.write_text(f"learning_rate: {written}\n", encoding="utf-8")
    assert settings("ner", "--train", "t", "--config", str(finetune_yaml)).learning_rate == 1e-3
    sectioned_yaml = tmp_path / "sectioned.yaml"
    sectioned_yaml.write_text(f"training:\n  learning_rate: {written}\n", encoding="utf-8")
    assert settings("ner", "--train", "t", "--config", str(sectioned_yaml)).learning_rate == 1e-3
    pretrain_yaml = tmp_path / "pretrain.yaml"
    pretrain_yaml.write_text(f"training:\n  learning_rate: {written}\n", encoding="utf-8")
    config = load_config(str(pretrain_yaml))
    assert config.training.learning_rate == 1e-3
    again = apply_overrides(config, [f"training.learning_rate={written}"])
    assert again.training.learning_rate == 1e-3


def test_a_setting_given_twice_or_unknown_under_training_is_refused(tmp_path):
    both = tmp_path / "both.yaml"
    both.write_text("learning_rate: 1e-3\ntraining:\n  learning_rate: 2e-3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="given twice"):
        settings("ner", "--train", "t", "--config", str(both))
    with pytest.raises(ValueError, match="Unknown key 'training.steps'"):
        settings("ner", "--train", "t", "--set", "training.steps=3")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("training:\n  warmup_steps: 10\n", encoding="utf-8")
    with pytest.raises(ValueError, match="warmup_steps"):
        settings("ner", "--train", "t", "--config", str(unknown))


def test_task_options_are_read_by_the_same_rules():
    task = get_task("squad")
    options = task.options(settings("squad", "--train", "t.json", "--set", "options.doc_stride=1e2",
                                     "--set", "options.max_answer_length=3.0E1"))
    assert (options.doc_stride, options.max_answer_length) == (100, 30)
    assert isinstance(options.doc_stride, int)
    with pytest.raises(ValueError, match="max_query_length must be of type int"):
        task.options(settings("squad", "--train", "t.json", "--set", "options.max_query_length=6.5"))


def test_a_label_read_as_a_number_is_a_label_and_a_column_index_stays_an_index():
    task = get_task("glue")
    options = task.options(settings("glue", "--train", "t.tsv", "--set", "options.positive_label=1",
                                     "--set", "options.text_a=0", "--set", "options.label=review"))
    assert (options.positive_label, options.text_a, options.label) == ("1", 0, "review")


def test_set_overrides_a_setting_of_the_files_training_section(tmp_path):
    sectioned = tmp_path / "sectioned.yaml"
    sectioned.write_text("training:\n  learning_rate: 1e-3\n  epochs: 3\n", encoding="utf-8")
    config = settings("ner", "--train", "t", "--config", str(sectioned), "--set", "learning_rate=2e-3")
    assert (config.learning_rate, config.epochs) == (2e-3, 3)
