"""The one training loop shared by ``main_speech_lsnn.py``, ``main_ecg_lsnn.py`` and ``main_CNN_jax.py``.

Per iteration: a batch from the task's dataset (a pure function of (seed, step)), one jitted step
``θ ← Adam(∇_θ [CE + rate_reg + β·L_rob(θ, θ*)])`` with the W_rec-diagonal gradient masked. Every
``log_interval`` iterations the current training batch is re-evaluated with an all-ones dropout mask:
``training_accuracy``, ``attacked_training_accuracy`` and ``kl_over_time`` (N+1 values) under the model's
own attack flags — also for β = 0 (quirk 10). With ``-pretrain_steps=P`` (warm start; report: 0) the
first P iterations use the standard step (β = 0, no attack computed) and the rest the robust one. With
``-init_from=<session id>`` (warm start from a saved model; report: 0) θ starts from that model file, the
optimiser starts afresh, and the iterations are numbered on from the parent's last one (same data and
learning-rate streams as if the parent had gone on), up to the usual total (``-max_steps``). Every
``eval_step_interval`` iterations (and after the last one, unless ``-final_validation=False``, the
report's rule) the validation split is evaluated and the best-validation model is saved; each save, and
the end of training, prints ``Saved model under <Resources>/Models/<sid>_model.json (session id <sid>,
...)``.

Several seeds train at once with ``jax.vmap`` (``-vmap_seeds=0,1,2``): parameters, optimiser states, keys
and batches get a leading seed axis; each seed writes its own model/results pair, identical in format to
a single-seed run. Randomness depends only on (seed, step), so a run killed at any point and restarted
with the same session id(s) continues from its last checkpoint and reproduces the uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from robustness import artifacts, attack, methods, paths
from robustness.configs import TrainConfig, attack_kwargs, loss_kwargs, parse_cli, resolve_resources_dir
from robustness.data import load_dataset
from robustness.datasets import DataError
from robustness.evaluation import attacked_accuracy, mismatch_accuracies
from robustness.paths import enable_compilation_cache
from robustness.schedule import lr_table_of, total_steps
from robustness.tasks import Model, make_task, task_of

ALIASES = {  # the plural names the report-era experiments read (pre-datajuicer "track" files)
    "training_accuracy": "training_accuracies",
    "attacked_training_accuracy": "attacked_training_accuracies",
    "attacked_validation_accuracy": "attacked_validation_accuracies",
}
STREAM_TRAIN, STREAM_LOG, STREAM_VAL = 1, 2, 3


class TrainingDiverged(RuntimeError):
    """The loss became NaN or inf; the run stops without writing anything half-finished."""


def make_optimizer(config: TrainConfig, lrs: np.ndarray, first: int = 0):
    """Adam (or SGD) on the learning-rate table ``lrs``; a run that starts at iteration ``first`` (a warm
    start) takes its rates from there on, though its optimiser state starts afresh. ``esgd``/``abcd``: a
    ``methods.RuleOptimizer`` (an update rule that calls the gradient several times per iteration)."""
    table = jnp.asarray(lrs, jnp.float32)

    def schedule(count):
        return table[jnp.minimum(count + first, table.shape[0] - 1)]

    if config.optimizer == "adam":
        return optax.adam(schedule, b1=0.9, b2=0.999, eps=1e-8)
    if config.optimizer == "esgd":
        return methods.RuleOptimizer("esgd", methods.EsgdHyper(), schedule)
    if config.optimizer == "abcd":
        hyper = methods.AbcdHyper(L=config.abcd_L, eta_a=config.abcd_etaA)
        return methods.RuleOptimizer("abcd", hyper, schedule)
    return optax.sgd(schedule)


def dropout_mask(key, config: TrainConfig, n_units: int):
    """Report-era dropout: one (1, n_units) keep-mask U > p shared by the clean and attacked passes; None
    (no dropout) at the report's ``dropout_prob`` 0."""
    if config.dropout_prob <= 0.0:
        return None
    return (jax.random.uniform(key, (1, n_units)) > config.dropout_prob).astype("float32")


def make_step(task: Model, config: TrainConfig, optimizer):
    """The jitted, seed-vmapped training step ``(params, opt_state, x, y, key) -> (params, opt_state, loss)``.

    The gradient oracle is the one training loss (``attack.training_loss``) with the W_rec diagonal
    masked; the comparison methods (``robustness.methods``, docs/methods.md) only move the point where it
    is evaluated (forward noise, AWP, AMP) or call it several times (``-optimizer=esgd|abcd``). At their
    zero strengths the rule is skipped: the standard step, bitwise."""
    kwargs = loss_kwargs(config)
    eta, amp = float(config.noisy_forward_std), float(config.amp_epsilon)
    awp = config.awp and float(config.awp_gamma) != 0.0
    pga = config.awp and config.awp_perturb_input and float(config.eps_pga) > 0.0
    settings = attack.AttackSettings(**{**attack_kwargs(config), "boundary_loss": config.boundary_loss,
                                        "kl_min_prob": config.kl_min_prob})  # fmt: skip

    def step(params, opt_state, x, y, key):
        k_drop, k_attack = jax.random.split(key)
        mask = dropout_mask(k_drop, config, task.n_units)
        if pga:  # AWP's input PGA: one adversarial batch per iteration, at θ
            k_pga = jax.random.fold_in(k_attack, methods.STREAM_PGA)
            x = methods.input_pga(task.forward, params, x, y, k_pga, float(config.eps_pga), mask)

        def loss_fn(p, k):
            if eta:
                p = methods.noisy_params(p, jax.random.fold_in(k, methods.STREAM_NOISE), eta)
            return attack.training_loss(task.forward, p, x, y, key=k, dropout_mask=mask, **kwargs)

        def gradient(p, k):
            loss, grads = jax.value_and_grad(loss_fn)(p, k)
            return loss, attack.mask_recurrent_diagonal(grads)  # quirk 6: W_rec diagonal held at 0

        def oracle(p, k):
            if awp:
                k_awp = jax.random.fold_in(k, methods.STREAM_AWP)
                p = methods.awp_point(task.forward, p, x, y, k_awp, float(config.awp_gamma), settings, mask)
            if amp:
                p = methods.amp_point(p, gradient(p, k)[1], amp)
            return gradient(p, k)

        if isinstance(optimizer, methods.RuleOptimizer):
            return optimizer.step(params, opt_state, oracle, k_attack)
        loss, grads = oracle(params, k_attack)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(jax.vmap(step), donate_argnums=(0, 1))


def make_log_fn(task: Model, config: TrainConfig):
    """Seed-vmapped ``(params, x, y, key) -> (accuracy, attacked accuracy, KL trajectory [N+1])``."""
    kwargs = attack_kwargs(config)

    def fn(params, x, y, key):
        logits, _ = task.forward(params, x)
        attacked_logits, kl = attack.evaluation_attack(task.forward, params, x, key=key, **kwargs)
        return jnp.mean(jnp.argmax(logits, -1) == y), jnp.mean(jnp.argmax(attacked_logits, -1) == y), kl

    return jax.jit(jax.vmap(fn))


@dataclasses.dataclass
class SeedRun:
    """Bookkeeping of one seed: its dataset, session id, results log and best validation accuracy."""

    seed: int
    sid: int
    config: TrainConfig
    dataset: object
    log: dict
    best: float = -1.0

    def append(self, key, value):
        self.log.setdefault(key, []).append(value)
        if key in ALIASES:
            self.log.setdefault(ALIASES[key], []).append(value)


def _session_ids(config: TrainConfig, seeds) -> list[int]:
    if config.vmap_seeds:
        if config.session_ids and len(config.session_ids) != len(seeds):
            raise ValueError(f"-session_ids needs one id per seed in -vmap_seeds ({len(seeds)})")
        return list(config.session_ids) or [artifacts.new_session_id() for _ in seeds]
    return [config.session_id or artifacts.new_session_id()]


def _parents(config: TrainConfig, seeds) -> list[int]:
    """The ``-init_from`` session id of each seed (0 = random initialisation)."""
    if config.init_froms:
        if not config.vmap_seeds or len(config.init_froms) != len(seeds):
            raise ValueError(f"-init_froms needs one session id per seed in -vmap_seeds ({len(seeds)})")
        return list(config.init_froms)
    return [config.init_from] * len(seeds)


def _seed_runs(config: TrainConfig, seeds, sids) -> list[SeedRun]:
    task = task_of(config)
    config = dataclasses.replace(config, data_dir=task.data_dir_of(config))
    shared = None
    runs = []
    for seed, sid, parent in zip(seeds, sids, _parents(config, seeds)):
        cfg = dataclasses.replace(
            config, seed=seed, session_id=sid, init_from=parent, vmap_seeds=(), session_ids=(), init_froms=()
        )
        # speech: each seed selects its own splits; ECG quirk 8: each model drew its own sample (the
        # original trained one model per process, each building its loader)
        if shared is None or task.data_depends_on_seed or task.redraws_on_load(cfg):
            shared = load_dataset(cfg)
        runs.append(SeedRun(seed=seed, sid=sid, config=cfg, dataset=shared, log={}))
    return runs


def _stack(trees):
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def _unstack(tree, i):
    return jax.tree_util.tree_map(lambda a: a[i], tree)


@dataclasses.dataclass
class _Loop:
    """What every iteration uses: the model, the jitted step and log functions, the seed-stacked parameters
    and optimiser state, the per-seed key streams, and where the iterations start and end."""

    task: Model
    step_fn: Callable
    pretrain_step_fn: Callable  # the step of the first ``config.pretrain_steps`` iterations (β = 0)
    log_fn: Callable
    params: Any
    opt_state: Any
    train_keys: jax.Array
    log_keys: jax.Array
    start: int
    n_steps: int


def _prepare(config: TrainConfig, runs: list[SeedRun], seeds, sids) -> _Loop:
    """Build the model, optimiser and steps; initialise every seed, or restore them from the checkpoint."""
    task = make_task(config, n_in=runs[0].dataset.input_shape[-1])
    n_train = runs[0].dataset.n_train
    roots = [jax.random.PRNGKey(s) for s in seeds]
    initial = [jax.tree_util.tree_map(jnp.asarray, task.init(r)) for r in roots]
    n_steps = total_steps(config, n_train)
    initial, first = _warm_start(config.resources_dir, config.architecture, runs, initial, n_steps)
    optimizer = make_optimizer(config, lr_table_of(config, n_train), first)
    params = _stack(initial)
    opt_state = jax.vmap(optimizer.init)(params)  # a warm start gets a fresh optimiser too
    train_keys = jnp.stack([jax.random.fold_in(r, STREAM_TRAIN) for r in roots])
    log_keys = jnp.stack([jax.random.fold_in(r, STREAM_LOG) for r in roots])
    start, params, opt_state = _restore(config.resources_dir, sids, seeds, runs, params, opt_state, first)
    step_fn, log_fn = make_step(task, config, optimizer), make_log_fn(task, config)
    pre_fn = step_fn  # warm start: standard steps (β = 0, no attack computed) before the robust phase
    if config.pretrain_steps and config.beta_robustness:
        pre_fn = make_step(task, dataclasses.replace(config, beta_robustness=0.0), optimizer)
    return _Loop(task, step_fn, pre_fn, log_fn, params, opt_state, train_keys, log_keys, start, n_steps)


def _warm_start(res, architecture: str, runs: list[SeedRun], initial: list, n_steps: int):
    """``(parameters per seed, first iteration)``: each seed's ``-init_from`` parent θ (checked against the
    architecture and shapes), and the number of iterations the parents trained — the run continues their
    data, key and learning-rate streams from there. Without parents: ``(initial, 0)``."""
    parents = [r.config.init_from for r in runs]
    if not any(parents):
        return initial, 0
    if not all(parents):
        raise ValueError(f"-init_froms {parents}: either every vmapped seed has a parent session or none")
    loaded = [artifacts.load_parent(res, p, architecture, init) for p, init in zip(parents, initial)]
    firsts = sorted({first for _, first in loaded})
    if len(firsts) > 1:
        raise ValueError(
            f"the parent sessions {parents} trained different numbers of iterations ({firsts}); "
            "vmapped seeds continue together: train them in separate processes"
        )
    if firsts[0] >= n_steps:
        raise ValueError(
            f"the parent session(s) {sorted(set(parents))} already trained {firsts[0]} iterations and this run "
            f"ends at iteration {n_steps}: raise -max_steps (or -n_epochs) above {firsts[0]}"
        )
    print(f"warm start from session(s) {parents} at iteration {firsts[0]}", flush=True)
    return [jax.tree_util.tree_map(jnp.asarray, p) for p, _ in loaded], firsts[0]


def fit(config: TrainConfig, *, progress: bool | None = None) -> list[dict]:
    """Train ``config`` (one seed, or ``config.vmap_seeds`` at once); returns a summary per seed."""
    seeds = list(config.vmap_seeds) or [config.seed]
    config = dataclasses.replace(config, resources_dir=resolve_resources_dir(config))
    sids = _session_ids(config, seeds)
    res = config.resources_dir
    if all(artifacts.results_complete(res, sid, config.architecture) for sid in sids):
        print(f"session(s) {sids} already trained; nothing to do", flush=True)
        return [{"seed": s, "session_id": sid, "status": "already done"} for s, sid in zip(seeds, sids)]
    runs = _seed_runs(config, seeds, sids)
    loop = _prepare(config, runs, seeds, sids)
    _check_a_validation_runs(config, runs, loop)
    fold = jax.vmap(jax.random.fold_in, in_axes=(0, None))
    bar = _Progress(loop.n_steps, loop.start, config.architecture, progress)
    last_ckpt, step = time.monotonic(), loop.start
    try:
        for step in range(loop.start, loop.n_steps):
            batch = [r.dataset.train_batch(r.seed, step, config.batch_size) for r in runs]
            x, y = np.stack([b[0] for b in batch]), np.stack([b[1] for b in batch])
            step_fn = loop.pretrain_step_fn if step < config.pretrain_steps else loop.step_fn
            loop.params, loop.opt_state, loss = step_fn(
                loop.params, loop.opt_state, x, y, fold(loop.train_keys, step)
            )
            loss = np.asarray(loss)
            if not np.all(np.isfinite(loss)):
                raise TrainingDiverged(f"loss became {loss.tolist()} at iteration {step} (sessions {sids})")
            done, logged = step + 1, (step + 1) % config.log_interval == 0
            if logged:
                metrics = (np.asarray(v) for v in loop.log_fn(loop.params, x, y, fold(loop.log_keys, step)))
                _log(runs, res, *metrics, loss, bar, done)
            final = config.final_validation and done == loop.n_steps
            if done % config.eval_step_interval == 0 or final:
                _validate(loop.task, runs, loop.params, loop.train_keys, step, final=done == loop.n_steps)
                last_ckpt = -np.inf  # checkpoint right after a validation
            checkpoint_due = time.monotonic() - last_ckpt >= config.checkpoint_seconds
            if (logged or done == loop.n_steps) and checkpoint_due:
                _checkpoint(res, sids, seeds, runs, loop.params, loop.opt_state, done)
                last_ckpt = time.monotonic()
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted at iteration {step}; resume with the same -session_id", file=sys.stderr)
        raise
    except TrainingDiverged as err:
        bar.close()
        removed = [str(p) for sid in sids for p in artifacts.remove_session(res, sid)]
        raise TrainingDiverged(f"{err}; removed {', '.join(removed) or 'nothing'}") from None
    bar.close()
    for r in runs:
        r.append("done", True)
        r.log["best_validation_accuracy"] = [r.best]
        artifacts.write_results(res, r.sid, r.log)
        path = artifacts.model_path(res, r.sid)
        print(saved_message(path, r.sid, f"best validation accuracy {r.best:.4f}, training done"), flush=True)
    artifacts.remove_checkpoint(res, sids[0])
    return [{"seed": r.seed, "session_id": r.sid, "best_validation_accuracy": r.best} for r in runs]


def _check_a_validation_runs(config: TrainConfig, runs, loop) -> None:
    """ValueError unless some validation (so some model file) is ahead or behind: without the final
    validation (``-final_validation=False``) a run shorter than ``eval_step_interval`` would save nothing."""
    k = config.eval_step_interval
    if config.final_validation or loop.n_steps // k > loop.start // k:
        return
    if all(r.log.get("validation_step") for r in runs):  # resumed after its last validation
        return
    raise ValueError(
        f"-final_validation=False: no validation falls in iterations {loop.start + 1}..{loop.n_steps} "
        f"(one every -eval_step_interval={k}), so no model would be saved; lower -eval_step_interval or "
        "keep -final_validation=True"
    )


def _log(runs, res, acc, att, kl, loss, bar, done: int) -> None:
    """Append one training-batch log per seed (accuracy, attacked accuracy, KL trajectory, loss)."""
    for i, r in enumerate(runs):
        r.append("training_accuracy", float(acc[i]))
        r.append("attacked_training_accuracy", float(att[i]))
        r.append("kl_over_time", kl[i].tolist())
        r.append("training_loss", float(loss[i]))
        artifacts.write_results(res, r.sid, r.log)
    bar.update(done, loss=float(loss.mean()), acc=float(acc.mean()), att=float(att.mean()))


def _validate(task, runs, params, train_keys, step, *, final: bool):
    """Validate every seed on its own validation split; save a model on a new best score: the validation
    accuracy (``-model_selection=validation``, the report's), or the mean validation accuracy of
    ``model_selection_draws`` mismatch draws at ``model_selection_sigma`` (``mismatch``: a later ECG main's
    rule, evaluated every 2 × ``eval_step_interval`` iterations and after the last one; logged as
    ``mm_val_robustness``, the original's key). ``best_validation_accuracy`` is the best such score."""
    for i, r in enumerate(runs):
        cfg = r.config
        x, y = r.dataset.split("validation")
        if cfg.validation_limit > 0:
            x, y = x[: cfg.validation_limit], y[: cfg.validation_limit]
        p = _unstack(params, i)
        key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(r.seed), STREAM_VAL), step)
        acc, att, kl = attacked_accuracy(task, p, x, y, key=key, batch_size=cfg.validation_batch_size)
        r.append("validation_accuracy", acc)
        r.append("attacked_validation_accuracy", att)
        r.append("validation_kl_over_time", kl)
        r.append("validation_step", step + 1)
        print(
            f"[{r.sid}] iteration {step + 1}: validation accuracy {acc:.4f}, attacked {att:.4f}", flush=True
        )
        score, what = acc, f"validation accuracy {acc:.4f}"
        if cfg.model_selection == "mismatch":
            if not (final or (step + 1) % (2 * cfg.eval_step_interval) == 0):
                artifacts.write_results(cfg.resources_dir, r.sid, r.log)
                continue
            accs = mismatch_accuracies(
                task, p, x, y, cfg.model_selection_sigma, key=jax.random.fold_in(key, 1),
                n_draws=cfg.model_selection_draws, batch_size=cfg.validation_batch_size,
            )  # fmt: skip
            r.append("mm_val_robustness", accs)
            score = float(np.mean(accs))
            what = f"mean validation accuracy {score:.4f} under mismatch σ = {cfg.model_selection_sigma}"
            print(f"[{r.sid}] iteration {step + 1}: {what}", flush=True)
        if score > r.best:
            r.best = score
            path = artifacts.save_model(cfg.resources_dir, r.sid, cfg, p, train_keys[i])
            print(saved_message(path, r.sid, what), flush=True)
        artifacts.write_results(cfg.resources_dir, r.sid, r.log)


def saved_message(path, sid: int, what: str) -> str:
    """The line the original README tells users to look for to find a run's session id."""
    return f"Saved model under {path} (session id {sid}, {what})"


def _checkpoint(res, sids, seeds, runs, params, opt_state, step):
    leaves = jax.tree_util.tree_leaves((params, opt_state))
    arrays = {f"leaf_{i:04d}": np.asarray(a) for i, a in enumerate(leaves)}
    meta = {
        "step": step,
        "seeds": seeds,
        "sids": sids,
        "best": [r.best for r in runs],
        "logs": [r.log for r in runs],
    }
    artifacts.save_checkpoint(res, sids[0], arrays=arrays, meta=meta)


def _restore(res, sids, seeds, runs, params, opt_state, first: int = 0):
    """Resume from ``Resources/Checkpoints/{sid}.npz`` if present (results logs are rolled back to it), else
    start at iteration ``first``."""
    loaded = artifacts.load_checkpoint(res, sids[0])
    if loaded is None:
        return first, params, opt_state
    arrays, meta = loaded
    if meta["sids"] != sids or meta["seeds"] != seeds:
        # e.g. a grouped job killed and relaunched with a different -group_seeds: start afresh
        print(
            f"warning: ignoring checkpoint {artifacts.checkpoint_path(res, sids[0])} of sessions {meta['sids']} "
            f"/ seeds {meta['seeds']} (this run: {sids} / {seeds}); starting from iteration 0",
            file=sys.stderr,
        )
        artifacts.remove_checkpoint(res, sids[0])
        return first, params, opt_state
    template = (params, opt_state)
    leaves, treedef = jax.tree_util.tree_flatten(template)
    restored = [jnp.asarray(arrays[f"leaf_{i:04d}"], dtype=leaf.dtype) for i, leaf in enumerate(leaves)]
    params, opt_state = jax.tree_util.tree_unflatten(treedef, restored)
    for r, best, log in zip(runs, meta["best"], meta["logs"]):
        r.best, r.log = best, log
        artifacts.write_results(res, r.sid, r.log)  # drop entries logged after the checkpoint
    print(f"resuming sessions {sids} from iteration {meta['step']}", flush=True)
    return meta["step"], params, opt_state


class _Progress:
    """tqdm bar with loss/accuracy on a terminal; plain periodic lines otherwise."""

    def __init__(self, total, initial, name, enabled):
        self.total, self.name = total, name
        self.tty = sys.stderr.isatty() if enabled is None else enabled
        self.every = max(1, total // 20)
        self.bar = None
        if self.tty:
            self.bar = tqdm(total=total, initial=initial, desc=name, dynamic_ncols=True)
        self.last = initial

    def update(self, done, **metrics):
        text = " ".join(f"{k}={v:.3f}" for k, v in metrics.items())
        if self.bar is not None:
            self.bar.update(done - self.last)
            self.bar.set_postfix_str(text)
        elif done // self.every != self.last // self.every or done == self.total:
            print(f"{self.name} iteration {done}/{self.total} {text}", flush=True)
        self.last = done

    def close(self):
        if self.bar is not None:
            self.bar.close()


def main(config_cls, argv=None, prog=None) -> int:
    """Entry point of the three scripts: parse flags, train, map errors to exit codes."""
    enable_compilation_cache()
    prog = prog or os.path.basename(sys.argv[0])
    config = parse_cli(config_cls, sys.argv[1:] if argv is None else argv, prog=prog)
    if paths.empty_flags({"resources_dir": config.resources_dir}):
        print(f"{prog}: error: -resources_dir is empty; give a folder (default Resources)", file=sys.stderr)
        return 2
    if problem := paths.check_folders({"resources_dir": resolve_resources_dir(config)}):
        print(f"{prog}: error: {problem}", file=sys.stderr)
        return 1
    try:
        for summary in fit(config):
            print(summary, flush=True)
    except TrainingDiverged as err:
        print(f"{prog}: error: training diverged: {err}", file=sys.stderr)
        print(
            f"{prog}: retry with a smaller -learning_rate or another -seed (the rerun starts afresh)",
            file=sys.stderr,
        )
        return 3
    except (FileNotFoundError, ValueError, DataError) as err:
        if os.environ.get("ROBUSTNESS_DEBUG"):
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    return 0
