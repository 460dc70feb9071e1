"""Learning-rate schedule: the report's in-place cumsum quirk and the fixed schedule (docs/original.md §4)."""

import pytest

from robustness.tasks import SpeechConfig
from robustness.schedule import lr_table, phase_steps, total_steps

A, B, C = 1e-3, 1e-4, 1e-5


@pytest.mark.parametrize(
    "name, quirk, steps, lrs, expected",
    [
        # steps (3, 2): the original loop ran 3 + (3 + 2) = 8 iterations, lr_1 for steps_1 - 1 of them.
        ("report_quirk", True, (3, 2), (A, B), [A, A, B, B, B, B, B, B]),
        ("fixed", False, (3, 2), (A, B), [A, A, A, B, B]),
        # three phases (2, 2, 1): cumsum (2, 4, 5) -> 11 iterations; table t=1..4 -> a b b c, then clamped to c.
        ("report_quirk_3", True, (2, 2, 1), (A, B, C), [A, B, B] + [C] * 8),
        ("fixed_3", False, (2, 2, 1), (A, B, C), [A, A, B, B, C]),
        ("single_phase", True, (4,), (A,), [A, A, A, A]),
    ],
)
def test_lr_table_golden(name, quirk, steps, lrs, expected):
    # n_train == batch_size makes steps_i == e_i
    assert lr_table(lrs, steps, 100, 100, quirk).tolist() == pytest.approx(expected, rel=0, abs=0)


def test_phase_steps_ceil():
    # ceil(e * N / B): 1 epoch of 7,601 clips at batch 100 is 77 steps; 0.5 epoch is 39
    assert phase_steps((1, 0.5), 7601, 100) == [77, 39]
    assert phase_steps((64, 16), 7600, 100) == [4864, 1216]


def test_speech_default_total_matches_report_estimate():
    # docs/original.md §4: speech "64,16" with N_train ~ 7.6k -> ~4.9k + 6.1k ~ 11k iterations with the quirk
    assert total_steps(SpeechConfig(), 7600) == 4864 + 4864 + 1216
    assert total_steps(SpeechConfig(lr_schedule_quirk=False), 7600) == 4864 + 1216
    assert total_steps(SpeechConfig(max_steps=300), 7600) == 300


def test_length_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="same length"):
        lr_table((A, B), (1,), 100, 100, True)
