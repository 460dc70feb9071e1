"""make_figures.py and the Experiments on real, tiny models: the smoke chain train.py → make_figures.py.

A session fixture trains the ``smoke`` models of the README figures once (real data, ~10 processes), then
draws figure_main, constant_attack_figure, methods_figure, figure_example and figure_mismatch. The tests
check the files, that every number in the JSONs equals the statistics recomputed from the cached
evaluations (read back through the same cachable functions, load mode) and from the training logs, that
the session ids are the trained models', that a second run only loads, and the failure paths (missing
models, broken Experiments) with their exit codes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import architectures as A
import datajuicer as dj
import make_figures

from robustness import artifacts, files, reductions, stats
from robustness import cached_evaluation as ce
from robustness.figures import figure_dir
from robustness.files import to_jsonable
from robustness.paths import REPO_ROOT, Dirs
from robustness.profiles import get_profile
from robustness.tasks import TASKS

TRAINED = ("mismatch_experiment", "constant_attack_experiment", "methods_experiment")
DRAWN = {  # Experiment -> its figure
    "mismatch_experiment": "figure_main",
    "constant_attack_experiment": "constant_attack_figure",
    "methods_experiment": "methods_figure",
    "example_experiment": "figure_example",
    "figure_mismatch": "figure_mismatch",
}
SMOKE = get_profile("smoke")
MISSING_IN_FULL = {  # the full grids' models each Experiment draws (README "experiment grid")
    "constant_attack_experiment": 40,
    "ecg_experiment": 8,
    "example_experiment": 4,
    "methods_experiment": 40,
    "mismatch_experiment": 60,
    "sgd_experiment": 10,
    "treat_as_constant_experiment": 6,
}


def run(argv, log: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *argv], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    log.write_text(f"$ {' '.join(argv)}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def chain(tmp_path_factory, speech_dir, mitdb_dir, fashion_dir, figure_mismatch_dir):
    """Train the smoke models (tmp sessions/resources) and draw the figures once per test session."""
    root = tmp_path_factory.mktemp("smoke_chain")
    dirs = [f"-cache_dir={root / 'Sessions'}", f"-resources_dir={root / 'Resources'}"]
    trained = run(["train.py", "-profile=smoke", "-n_threads=2", "-exp", *TRAINED, *dirs], root / "train.log")
    assert trained.returncode == 0, (root / "train.log").read_text()[-3000:]
    figures = run(["make_figures.py", "-profile=smoke", "-exp", *DRAWN, *dirs], root / "figures.log")
    return {
        "root": root,
        "S": root / "Sessions",
        "R": root / "Resources",
        "dirs": Dirs(resources_dir=root / "Resources", cache_dir=root / "Sessions"),
        "out": root / "Resources" / "Figures" / "smoke",
        "figures": figures,
        "flags": dirs,
    }


def numbers(chain, figure: str) -> dict:
    return json.loads((chain["out"] / f"{figure}.json").read_text())


def cached(chain, func, arch: str, sid: int, *args):
    """A stored evaluation, read back through the cachable function in load mode (never recomputed)."""
    model = {"architecture": arch, f"{arch}_session_id": sid}
    [value] = dj.run([model], func, run_mode="load", cache_dir=str(chain["S"]))("{*}", *args)
    return value


def log_of(chain, sid: int) -> dict:
    return files.read_json(artifacts.results_path(chain["R"], sid))


def test_the_chain_writes_every_figure_table_and_json(chain):
    proc = chain["figures"]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "figures in" in proc.stdout and "done 5, skipped 0, failed 0" in proc.stdout
    for figure in DRAWN.values():
        for ext in ("png", "pdf", "json"):
            assert (chain["out"] / f"{figure}.{ext}").stat().st_size > 500, (figure, ext)
        data = numbers(chain, figure)
        assert data["provenance"]["profile"] == "smoke" and len(data["provenance"]["git_commit"]) in (7, 40)
    for figure in ("figure_main", "constant_attack_figure", "methods_figure", "figure_example"):
        table = numbers(chain, figure)["numbers"]["table"]
        md = (chain["out"] / f"{figure}_table.md").read_text()
        assert md == stats.markdown_table(table["header"], table["rows"])
        assert (chain["out"] / f"{figure}_table.tex").read_text().startswith("\\begin{tabular}")


def test_session_ids_are_the_trained_models(chain):
    from Experiments.mismatch_experiment import mismatch_experiment

    models = A.load_models(mismatch_experiment.train_grid("smoke"), dirs=chain["dirs"])
    data = numbers(chain, "figure_main")
    assert data["provenance"]["session_ids"] == [str(s) for s in reductions.session_ids(models)]
    for arch, task in data["numbers"]["tasks"].items():
        for method, beta in (("standard", 0.0), ("robust", 1.0)):
            for sid in task["levels"][0][method]["session_ids"] + [task["panel"][method]["session_id"]]:
                config, _, _ = artifacts.load_model(chain["R"], sid)
                assert (config.architecture, config.beta_robustness, config.max_steps) == (arch, beta, 20)


def test_figure_main_numbers_are_the_cached_evaluations(chain):
    data = numbers(chain, "figure_main")["numbers"]
    assert (data["n_draws"], data["test_limit"]) == (SMOKE.n_draws, SMOKE.test_limit)
    rows = []
    for arch, task in data["tasks"].items():
        assert [lv["sigma"] for lv in task["levels"]] == list(
            TASKS[arch].mismatch_levels
        )  # the report's levels
        for level in task["levels"]:
            sigma, draws = level["sigma"], (1 if level["sigma"] == 0 else SMOKE.n_draws)
            pooled = {}
            for method in ("standard", "robust"):
                entry = level[method]
                values = [
                    cached(chain, ce.mismatch_list, arch, s, sigma, draws, SMOKE.test_limit)
                    for s in entry["session_ids"]
                ]
                assert entry["values"] == values and all(len(v) == draws for v in values)
                assert all(0.0 <= a <= 1.0 for v in values for a in v)
                pooled[method] = np.ravel(values)
                assert entry["summary"] == to_jsonable(stats.summarize(pooled[method]))
            assert level["mann_whitney"] == to_jsonable(
                stats.mann_whitney(pooled["standard"], pooled["robust"])
            )
            assert level["delta_mean"] == pytest.approx(
                pooled["robust"].mean() - pooled["standard"].mean(), abs=1e-15
            )
            rows.append(reductions.comparison_row(task["title"], sigma, level))
        panel = task["panel"]
        for method in ("standard", "robust"):
            stored = cached(
                chain, ce.panel_predictions, arch, panel[method]["session_id"], panel["panel_sigma"]
            )
            mine = {k: v for k, v in panel[method].items() if k != "session_id"}
            assert {
                **mine,
                **{k: panel[k] for k in reductions.PANEL_SHARED},
            } == stored  # examples: stored once
    assert data["table"]["rows"] == to_jsonable(rows)


def test_a_cached_mismatch_evaluation_is_reproduced_exactly(chain):
    """Keys come from (session id, σ): recomputing directly (no cache) gives the stored draws."""
    task = numbers(chain, "figure_main")["numbers"]["tasks"]["ecg_lsnn"]
    level = task["levels"][3]  # σ = 0.5
    sid = level["robust"]["session_ids"][0]
    model = {"architecture": "ecg_lsnn", "ecg_lsnn_session_id": sid}
    again = ce.mismatch_list(model, level["sigma"], SMOKE.n_draws, SMOKE.test_limit, resources_dir=chain["R"])
    assert again == level["robust"]["values"][0]


def test_clean_accuracy_two_ways_agree(chain):
    """figure_main's σ = 0 draw (vmapped mismatch code, σ = 0) equals figure_example's plain test accuracy."""
    example = numbers(chain, "figure_example")["numbers"]
    cnn = numbers(chain, "figure_main")["numbers"]["tasks"]["cnn"]["levels"][0]["robust"]
    assert example["session_ids"] == cnn["session_ids"]  # figure_example reuses the robust CNNs
    assert example["test_accuracy"] == [v[0] for v in cnn["values"]]
    assert example["test_accuracy"] == [
        cached(chain, ce.test_accuracy, "cnn", s, SMOKE.test_limit) for s in example["session_ids"]
    ]


def test_constant_attack_numbers_are_the_cached_evaluations_and_logs(chain):
    data = numbers(chain, "constant_attack_figure")["numbers"]
    assert sorted(data["test"], key=float) == ["0.0", "0.1", "1.0", "10.0"]
    for beta, entry in data["test"].items():
        attacked = [
            cached(chain, ce.attacked_test_accuracy, "speech_lsnn", s, SMOKE.test_limit)
            for s in entry["session_ids"]
        ]
        expected = {
            "clean": [a["test_accuracy"] for a in attacked],
            "attacked": [a["attacked_test_accuracy"] for a in attacked],
        }
        for c in (0.01, 0.05):
            args = (c, SMOKE.surface_draws, SMOKE.test_limit)
            surface = [cached(chain, ce.surface_mean, "speech_lsnn", s, *args) for s in entry["session_ids"]]
            assert all(
                s["mean"] == np.mean(s["accuracies"]) and len(s["accuracies"]) == SMOKE.surface_draws
                for s in surface
            )
            expected[f"surface_{c}"] = [s["mean"] for s in surface]
        for key, values in expected.items():
            assert entry[key]["values"] == values, (beta, key)
            assert entry[key]["median"] == np.median(values) and entry[key]["std"] == np.std(values)
            assert entry[key]["summary"] == to_jsonable(stats.summarize(values))
        assert all(len(a["kl_over_attack"]) == 11 for a in attacked)  # N + 1 values of the own attack
    for beta, curves in data["curves"].items():
        logs = [log_of(chain, s) for s in curves["session_ids"]]
        for key in ("training_accuracy", "attacked_training_accuracy"):
            raw = [log[key] for log in logs]
            assert curves[key]["raw"] == raw and len(raw[0]) == 2  # 20 steps, a log every 10
            window = curves[key]["window"]
            ma = [stats.moving_average(r, window) for r in raw]
            assert curves[key]["mean"] == np.mean(ma, 0).tolist()


def test_methods_numbers_are_the_training_logs(chain):
    data = numbers(chain, "methods_figure")["numbers"]
    assert set(data["trajectories"]) == {"0.0", "0.1", "1.0"} and set(data["final_kl"]) >= {"0.0", "0.1"}
    for beta, entry in data["final_kl"].items():
        logs = [log_of(chain, s) for s in entry["session_ids"]]
        final = [[traj[-1] for traj in log["kl_over_time"]] for log in logs]
        assert entry["raw"] == final
        assert entry["last_tenth_mean"] == np.mean([f[-1:] for f in final])  # 2 logs: a tenth is 1
        if beta in data["trajectories"]:
            assert data["trajectories"][beta]["kl"] == [log["kl_over_time"] for log in logs]


def test_a_second_run_only_loads(chain):
    out = chain["root"] / "again"
    argv = ["make_figures.py", "-profile=smoke", "-exp", "mismatch_experiment", "constant_attack_experiment"]
    proc = run([*argv, *chain["flags"], f"-out_dir={out}"], chain["root"] / "again.log")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "computed" not in proc.stdout and "mismatch_list: 12 loaded" in proc.stdout
    for figure in ("figure_main", "constant_attack_figure"):
        first, second = numbers(chain, figure), json.loads((out / f"{figure}.json").read_text())
        assert first["numbers"] == second["numbers"]


def test_the_other_experiments_draw_from_shared_smoke_models(chain, tmp_path):
    """treat_as_constant / sgd / ecg visualize() on models the chain trained (their grids narrowed to them
    through the grid builders' parameters)."""
    from Experiments import ecg_experiment as ecg
    from Experiments import sgd_experiment as sgd
    from Experiments import treat_as_constant_experiment as treat

    dirs, methods = chain["dirs"], {"standard": {"beta_robustness": 0.0}, "robust": {"beta_robustness": 1.0}}
    # treat's False/kl model is figure_main's robust speech model; figure_main's robust ECG (ζ 2, β 1, the
    # default epochs); figure_main's speech pair as the two "groups" of the SGD figure
    treat_numbers = treat.treat_as_constant_experiment.visualize("smoke", tmp_path, dirs, settings=(False,))
    sgd_numbers = sgd.sgd_experiment.visualize("smoke", tmp_path, dirs, base={}, groups=methods)
    ecg_numbers = ecg.ecg_experiment.visualize("smoke", tmp_path, dirs, base={}, sweep=((2.0,), (1.0,)))
    assert treat.treat_as_constant_experiment.visualize("quick", tmp_path, dirs) is None  # nothing in quick
    for figure in ("figure_treat_as_constant", "figure_sgd", "figure_ecg_sweep"):
        assert all((tmp_path / f"{figure}{ext}").is_file() for ext in (".png", ".pdf", ".json", "_table.md"))
    main = numbers(chain, "figure_main")["numbers"]["tasks"]
    [entry] = treat_numbers["models"]
    assert entry["session_id"] == main["speech_lsnn"]["levels"][0]["robust"]["session_ids"][0]
    assert entry["test_accuracy"] == main["speech_lsnn"]["levels"][0]["robust"]["values"][0][0]
    for mine, theirs in zip(sgd_numbers["levels"], main["speech_lsnn"]["levels"]):
        assert (
            mine["standard"]["values"] == theirs["standard"]["values"]
            and mine["mann_whitney"] == theirs["mann_whitney"]
        )
    [model] = ecg_numbers["models"]
    robust_ecg = {lv["sigma"]: lv["robust"]["values"][0] for lv in main["ecg_lsnn"]["levels"]}
    assert model["values"] == [robust_ecg[s] for s in ecg.LEVELS]


def test_missing_models_are_listed_with_the_train_command(tmp_path, capsys):
    dirs = [f"-cache_dir={tmp_path / 'S'}", f"-resources_dir={tmp_path / 'R'}"]
    rc = make_figures.main(["-profile=smoke", "-exp", "mismatch_experiment", *dirs])
    out, err = capsys.readouterr()
    assert rc == 1 and "failed 1" in out and "Traceback" not in err
    assert "mismatch_experiment: FAILED, models missing" in err and "6 of 6 models are not trained" in err
    assert "  cnn seed=0 beta_robustness=0.0" in err
    command = f"python train.py -exp mismatch_experiment -profile=smoke -cache_dir={tmp_path / 'S'}"
    assert f"train them with: {command} -resources_dir={tmp_path / 'R'}" in err


def test_the_originals_drawing_switches_on_the_smoke_models(chain, tmp_path):
    """-p_value=legacy -panels=simulated -dpi=600 (the original's tables and panels; its 1200 dpi is
    tested on figure_mismatch): same numbers, the legacy p in the table, random panel predictions."""
    out = tmp_path / "original"
    argv = ["make_figures.py", "-profile=smoke", "-exp", "mismatch_experiment", *chain["flags"]]
    proc = run(
        [*argv, f"-out_dir={out}", "-p_value=legacy", "-panels=simulated", "-dpi=600"], tmp_path / "log"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours, original = numbers(chain, "figure_main"), json.loads((out / "figure_main.json").read_text())
    assert original["extra"]["figure_config"] == {"dpi": 600, "p_value": "legacy", "panels": "simulated"}
    assert ours["extra"]["figure_config"] == {"dpi": 300, "p_value": "two-sided", "panels": "real"}
    table = original["numbers"]["table"]
    assert table["header"][-3] == "p (one-sided MWU, SciPy < 1.7 default)"
    legacy = []
    for arch, task in original["numbers"]["tasks"].items():
        mine = ours["numbers"]["tasks"][arch]
        assert task["levels"] == mine["levels"]  # the evaluations are the same; only the drawing differs
        for level in task["levels"]:
            pooled = [np.ravel(level[m]["values"]) for m in ("standard", "robust")]
            legacy.append(f"{stats.mann_whitney(*pooled)['p_legacy']:.2e}")
        panel, real = task["panel"], mine["panel"]
        assert panel["simulated"] and panel["labels"] == real["labels"]
        for method in ("standard", "robust"):
            assert panel[method]["clean"] == real[method]["clean"]  # the real predictions stay in the JSON
            expected = reductions.simulated_panel(real, TASKS[arch].simulated_panel)[method]["mismatch"]
            assert panel[method]["mismatch"] == expected
    assert [row[-3] for row in table["rows"]] == legacy
    assert original["numbers"]["tasks"]["speech_lsnn"]["panel"]["robust"]["mismatch"] is None
    width, height, dpi = _png_info(chain["out"] / "figure_main.png")
    big = _png_info(out / "figure_main.png")
    assert dpi == 300 and big[2] == 600 and abs(big[0] - 2 * width) <= 2 and abs(big[1] - 2 * height) <= 2


def _png_info(path: Path) -> tuple[int, int, int]:
    """Width, height (IHDR chunk) and dots per inch (pHYs chunk, pixels per metre) of a PNG file."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    at = data.index(b"pHYs") + 4
    assert data[at + 8] == 1  # unit: metre
    ppm = int.from_bytes(data[at : at + 4], "big")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), round(ppm * 0.0254)


def test_dpi_flag_sets_the_resolution_of_every_figure_file(tmp_path, figure_mismatch_dir, capsys):
    # figure_mismatch (5 × 4 inches, tight bounding box): about 1540 × 1240 pixels at the default 300 dpi,
    # four times as many per side at the original's 1200
    sizes = {}
    for dpi in (None, 1200):
        out = tmp_path / str(dpi)
        flags = [] if dpi is None else [f"-dpi={dpi}"]
        assert make_figures.main(["-exp", "figure_mismatch", f"-out_dir={out}", *flags]) == 0
        *sizes[dpi], written = _png_info(out / "figure_mismatch.png")
        assert written == (dpi or 300)
        assert json.loads((out / "figure_mismatch.json").read_text())["numbers"]["a"]["fit"]
    assert all(abs(big - 4 * small) <= 4 for big, small in zip(sizes[1200], sizes[None])), sizes
    assert 1400 < sizes[None][0] < 1700
    for bad, message in (
        ("-dpi=5", "bad value 5 for -dpi: must be >= 10"),
        ("-p_value=one", "-p_value; valid choices: two-sided, legacy"),
    ):
        with pytest.raises(SystemExit) as exc:
            make_figures.main(["-exp", "figure_mismatch", bad])
        assert exc.value.code == 2 and message in capsys.readouterr().err


def test_a_fresh_clone_draws_figure_mismatch_and_lists_what_to_train(tmp_path):
    """`python make_figures.py` with no models (empty Resources/ and Sessions/, as in a fresh clone): the
    figure that needs no training is drawn, every other Experiment is listed with the command that trains
    its models, exit 1 (README "Figures")."""
    S, R = tmp_path / "Sessions", tmp_path / "Resources"
    proc = run(["make_figures.py", f"-cache_dir={S}", f"-resources_dir={R}"], tmp_path / "fresh.log")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "figures in " + str(R / "Figures") + ": done 1, skipped 0, failed 7" in proc.stdout
    assert (R / "Figures" / "figure_mismatch.png").is_file() and (
        R / "Figures" / "figure_mismatch.pdf"
    ).is_file()
    drawn = json.loads((R / "Figures" / "figure_mismatch.json").read_text())
    assert [h["tick"] for h in drawn["numbers"]["a"]["hists"]] == [3, 7, 14, 19]  # the published ticks (mV)
    for name, size in MISSING_IN_FULL.items():
        block = proc.stderr.split(f"{name}: FAILED, models missing:\n")[1].split(": FAILED")[0]
        assert block.startswith(f"{size} of {size} models are not trained"), name
        assert f"train them with: python train.py -exp {name} -cache_dir={S} -resources_dir={R}" in block
    assert not (R / "Models").exists()  # nothing trained or written but the figure
    # the printed command is the one that trains them: as a dry run it plans exactly those 4 CNNs
    dry = run(
        ["train.py", "-exp", "example_experiment", f"-cache_dir={S}", f"-resources_dir={R}", "-dry_run"],
        tmp_path / "dry.log",
    )
    commands = [line for line in dry.stdout.splitlines() if line and not line.startswith("#")]
    assert dry.returncode == 0 and len(commands) == 4 and all("main_CNN_jax.py" in c for c in commands)


FIXTURE = """
from robustness.figure_files import save_figure
from robustness.plotting import plt


class {name}:
    @staticmethod
    def train_grid(profile="full"):
        return []

    @staticmethod
    def visualize(profile="full", out_dir=None):
        {body}
"""


def test_a_broken_experiment_fails_loudly_and_the_others_are_drawn(tmp_path, capsys):
    exps = tmp_path / "exps"
    exps.mkdir()
    good = 'fig = plt.figure(); return save_figure(fig, "fine", {"x": [1]}, out_dir=out_dir, profile=profile)'
    (exps / "a_broken.py").write_text(
        FIXTURE.format(name="a_broken", body='raise ValueError("boom: bad cache")')
    )
    (exps / "b_import.py").write_text("import no_such_module_xyz\n")
    (exps / "c_fine.py").write_text(FIXTURE.format(name="c_fine", body=good))
    (exps / "d_skip.py").write_text(FIXTURE.format(name="d_skip", body="return None"))
    rc = make_figures.main([f"-exp_dir={exps}", "-profile=smoke", f"-out_dir={tmp_path / 'out'}"])
    out, err = capsys.readouterr()
    assert rc == 1 and "done 1, skipped 1, failed 2" in out
    assert "a_broken: FAILED with this traceback:" in err and 'raise ValueError("boom: bad cache")' in err
    assert "b_import: FAILED: cannot import Experiment b_import" in err and "no_such_module_xyz" in err
    assert "make_figures.py: failed: a_broken b_import" in err
    assert json.loads((tmp_path / "out" / "fine.json").read_text())["numbers"] == {"x": [1]}
    assert (tmp_path / "out" / "fine.png").is_file()


def test_usage_errors_exit_2(capsys, tmp_path):
    assert make_figures.main(["-exp", "no_such_experiment"]) == 2
    assert "no Experiment ['no_such_experiment']" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        make_figures.main(["-profile=huge"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        make_figures.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert all(flag in text for flag in ("-exp", "-profile", "-out_dir", "-cache_dir", "-resources_dir"))
    assert figure_dir("full", resources_dir=tmp_path) == tmp_path / "Figures"
    assert figure_dir("quick", resources_dir=tmp_path) == tmp_path / "Figures" / "quick"
    assert os.environ.get("MPLBACKEND", "Agg") == "Agg"
