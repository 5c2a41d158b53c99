"""WarmupLinearDecay: values at warm-up, peak and end; serialisation."""


import keras
import numpy as np
import pytest

from spanbert_keras.training.schedule import WarmupLinearDecay


def value(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_values():
    s = WarmupLinearDecay(1e-4, warmup_steps=100, total_steps=1100)
    assert value(s, 0) == pytest.approx(1e-6)  # first update: peak / warmup
    assert value(s, 49) == pytest.approx(0.5e-4)
    assert value(s, 99) == pytest.approx(1e-4)  # last warm-up update: peak
    assert value(s, 100) == pytest.approx(1e-4)  # decay starts at the peak
    assert value(s, 600) == pytest.approx(0.5e-4)
    assert value(s, 1099) == pytest.approx(1e-7, abs=1e-12)
    assert value(s, 1100) == 0.0
    assert value(s, 5000) == 0.0


def test_monotone_and_published_configuration():
    s = WarmupLinearDecay(1e-4, warmup_steps=10_000, total_steps=2_400_000)
    steps = np.array([0, 5_000, 9_999, 10_000, 1_000_000, 2_399_999, 2_400_000])
    values = [value(s, int(t)) for t in steps]
    assert values[2] == pytest.approx(1e-4) and values[3] == pytest.approx(1e-4)
    assert np.all(np.diff(values[:3]) > 0) and np.all(np.diff(values[3:]) < 0)
    assert values[-1] == 0.0


def test_no_warmup():
    s = WarmupLinearDecay(2.0, warmup_steps=0, total_steps=4)
    assert [value(s, t) for t in range(5)] == [2.0, 1.5, 1.0, 0.5, 0.0]


def test_on_an_optimizer_and_round_trip():
    s = WarmupLinearDecay(1e-3, warmup_steps=4, total_steps=10, name="lr")
    assert WarmupLinearDecay.from_config(s.get_config()).get_config() == s.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s))
    assert isinstance(restored, WarmupLinearDecay) and restored.total_steps == 10
    optimizer = keras.optimizers.SGD(learning_rate=s)
    variable = keras.Variable(1.0)
    optimizer.build([variable])
    assert float(optimizer.learning_rate) == pytest.approx(2.5e-4)
    optimizer.apply([keras.ops.convert_to_tensor(0.0)], [variable])
    assert float(optimizer.learning_rate) == pytest.approx(5e-4)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(peak_learning_rate=0.0, warmup_steps=1, total_steps=2), "peak_learning_rate"),
        (dict(peak_learning_rate=1.0, warmup_steps=-1, total_steps=2), "warmup_steps"),
        (dict(peak_learning_rate=1.0, warmup_steps=5, total_steps=5), "total_steps"),
    ],
)
def test_invalid(kwargs, word):
    with pytest.raises(ValueError, match=word):
        WarmupLinearDecay(**kwargs)
