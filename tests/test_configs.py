"""Configs: every default once, original flag names, CLI parsing (-k=v and --k=v), round trips."""

import dataclasses

import pytest

from robustness.configs import ConfigError, derived_fields, make_config, parse_cli, to_flags
from robustness.tasks import CnnConfig, EcgConfig, SpeechConfig, config_from_flags

ALL = [SpeechConfig, EcgConfig, CnnConfig]


def test_report_defaults():
    s, e, c = SpeechConfig(), EcgConfig(), CnnConfig()
    assert (s.attack_size_mismatch, e.attack_size_mismatch, c.attack_size_mismatch) == (2.0, 2.0, 1.0)
    assert s.n_epochs == (64, 16) and e.n_epochs == (32, 8) and c.n_epochs == (32, 8)
    assert (s.eval_step_interval, e.eval_step_interval, c.eval_step_interval) == (200, 400, 1000)
    assert s.learning_rate == (0.001, 0.0001) and s.batch_size == 100 and s.n_hidden == 256
    assert (s.beta_robustness, s.n_attack_steps, s.initial_std_mismatch, s.reg) == (1.0, 10, 0.001, 0.001)
    assert (s.tau, s.tau_adaptation, s.thr, s.beta, s.refr, s.dampening_factor) == (
        20.0,
        98.0,
        0.01,
        2.0,
        2,
        0.3,
    )
    assert s.boundary_loss == "kl" and s.treat_as_constant is False and s.relative_step_uses_abs is False
    # derived fields of the original main_speech_lsnn.py
    assert (s.spectrogram_length, s.fingerprint_width, s.label_count) == (98, 40, 4)
    assert (s.desired_samples, s.window_size_samples, s.window_stride_samples, s.time_shift_samples) == (
        16000,
        480,
        160,
        1600,
    )


@pytest.mark.parametrize("cls", ALL)
def test_flags_round_trip(cls):
    cfg = cls()
    assert config_from_flags({**to_flags(cfg), **derived_fields(cfg)}) == cfg
    # the CLI rendering of every field parses back to the same config
    argv = [f"-{k}={v}" for k, v in to_flags(cfg).items()]
    assert parse_cli(cls, argv) == cfg


def test_cli_forms_and_types():
    cfg = parse_cli(
        SpeechConfig, ["-beta_robustness=0", "--n_epochs=1,2", "-learning_rate=0.01,0.001", "-seed=7"]
    )
    assert cfg.beta_robustness == 0.0 and cfg.n_epochs == (1, 2) and cfg.learning_rate == (0.01, 0.001)
    assert cfg.seed == 7 and isinstance(cfg.seed, int)


@pytest.mark.parametrize(
    "text, value", [("True", True), ("False", False), ("1", True), ("0", False), ("true", True)]
)
def test_booleans(text, value):
    assert parse_cli(SpeechConfig, [f"-treat_as_constant={text}"]).treat_as_constant is value
    # the report's store_true could never switch a True default off; here it can
    assert parse_cli(CnnConfig, [f"-scalar_conv1_bias={text}"]).scalar_conv1_bias is value


def test_bare_boolean_flag_means_true():
    assert parse_cli(SpeechConfig, ["-treat_as_constant"]).treat_as_constant is True


def test_unknown_flag_exits_2_naming_it(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_cli(SpeechConfig, ["-beta_robustnes=1"], prog="main_speech_lsnn.py")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "-beta_robustnes" in err and "beta_robustness" in err


@pytest.mark.parametrize(
    "arg, needle",
    [
        ("-boundary_loss=foo", "kl, reverse_kl, l2, js"),
        ("-seed=abc", "-seed"),
        ("-treat_as_constant=maybe", "True/False/1/0"),
        ("-n_epochs=1,x", "-n_epochs"),
        ("-optimizer=rmsprop", "adam, sgd"),
        ("-seed", "needs a value"),
    ],
)
def test_bad_values_exit_2(capsys, arg, needle):
    with pytest.raises(SystemExit) as exc:
        parse_cli(SpeechConfig, [arg])
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err


def test_help_lists_every_flag_with_default(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_cli(EcgConfig, ["--help"], prog="main_ecg_lsnn.py")
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for f in dataclasses.fields(EcgConfig):
        assert f"-{f.name}=" in out
    assert "-eval_step_interval=400" in out and "-n_epochs=32,8" in out


def test_flags_of_another_task_are_refused():
    with pytest.raises(ConfigError, match="unknown flag -n_hidden"):
        make_config(CnnConfig, {"n_hidden": 3})  # an LSNN flag is not a CNN flag


def test_derived_fields_are_not_flags():
    d = derived_fields(SpeechConfig())
    assert d["spectrogram_length"] == 98 and d["architecture"] == "speech_lsnn"
    assert not set(d) & set(to_flags(SpeechConfig()))


def test_readme_flag_table_lists_every_flag_with_its_defaults():
    """README "All flags": one row per flag of the three configs, defaults as in the configs."""
    import dataclasses
    import re

    from robustness.paths import REPO_ROOT

    text = (REPO_ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `-(\w+)` \| (.*?) \| (.*?) \| (.*?) \| .* \|$", text, re.M)
    table = {name: cells for name, *cells in rows}
    classes = (SpeechConfig, EcgConfig, CnnConfig)
    names = {f.name for cls in classes for f in dataclasses.fields(cls)}
    assert set(table) == names
    for i, cls in enumerate(classes):
        flags = to_flags(cls())
        for name in names:
            cell = table[name][i]
            if name not in flags:
                assert cell == "–", name
            elif cell != '""':
                assert cell.strip("`") == str(flags[name]), (cls.__name__, name, cell, flags[name])
