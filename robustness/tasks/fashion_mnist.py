"""The Fashion-MNIST task with the report's CNN (docs/original.md §2.2, §3.3, ``main_CNN_jax.py``;
architecture ``cnn``).

The CNN standardises with batch statistics also at test time (quirk 5), so its predictions depend on the
evaluation batch: every evaluation uses the original's batches of ``evaluation.EVAL_BATCH_SIZE`` in split
order, and the figure panel predicts whole batches (``cached_evaluation.panel_predictions``). Class names
are the reader's (``CNN.fashion_mnist.CLASS_NAMES``), shortened for the panel titles.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from CNN.dataset import FashionMnistDataset
from CNN.fashion_mnist import CLASS_NAMES
from robustness import cnn
from robustness.configs import TrainConfig, flag, redefault
from robustness.tasks import panels
from robustness.tasks.base import Model, Task


def _layers(shapes) -> str:
    """A layer specification in the flag's text form: ``[[64,1,4,4],[64,64,4,4]]``."""
    return json.dumps(shapes, separators=(",", ":"))


@dataclass(frozen=True, kw_only=True)
class CnnConfig(TrainConfig):
    """The Fashion-MNIST CNN of docs/original.md §2.2."""

    ARCHITECTURE: ClassVar[str] = "cnn"

    attack_size_mismatch: float = redefault(TrainConfig, "attack_size_mismatch", 1.0)
    eval_step_interval: int = redefault(TrainConfig, "eval_step_interval", 1000)
    validation_batch_size: int = redefault(TrainConfig, "validation_batch_size", 200)
    data_dir: str = flag("CNN/fashion_mnist/", "directory of the Fashion-MNIST IDX files")
    Kernels: str = flag(_layers(cnn.KERNELS), "conv kernel shapes (only the report's are supported)")
    Dense: str = flag(_layers(cnn.DENSE), "dense layer shapes (only the report's are supported)")
    scalar_conv1_bias: bool = flag(True, "quirk 5: conv-1 bias is one scalar (report) instead of per channel")
    w3_reuses_w2_key: bool = flag(True, "quirk 5: W3 initialised with W2's key (report)")
    augment_copies: int = flag(2, "offline augmented copies per training image (report: 2 → ×3)", ge=0)
    val_from_augmented: bool = flag(True, "quirk 9: validation split drawn from the augmented pool (report)")

    @property
    def label_count(self) -> int:
        return 10


def cnn_model(config: CnnConfig, n_in: int | None = None) -> Model:
    """The report's CNN (``n_in`` is not used: the input is always 1 × 28 × 28)."""
    kernels, dense = _layers(cnn.KERNELS), _layers(cnn.DENSE)
    if _squash(config.Kernels) != kernels or _squash(config.Dense) != dense:
        raise ValueError(f"-Kernels/-Dense: only the report architecture {kernels} / {dense} is supported")
    init = functools.partial(
        cnn.init_params,
        scalar_conv1_bias=config.scalar_conv1_bias,
        w3_reuses_w2_key=config.w3_reuses_w2_key,
    )
    return Model(
        config=config, init=init, forward=cnn.forward, n_units=cnn.DROPOUT_UNITS, n_classes=config.label_count
    )


def _squash(text: str) -> str:
    try:
        return _layers(json.loads(text))
    except json.JSONDecodeError:
        raise ValueError(f"malformed layer specification {text!r} (expected a JSON list of lists)") from None


def class_names(config: CnnConfig) -> list[str]:
    """Short names for the panel titles: before any '/', the last word ("T-shirt/top" → "T-shirt",
    "Ankle boot" → "Boot")."""
    return [name.split("/")[0].split()[-1].capitalize() for name in CLASS_NAMES]


def draw_panel(fig, cell, panel: dict) -> None:
    """Two rows of images per model (robust above standard), framed by the prediction under mismatch."""
    x = np.asarray(panel["x"])

    def image(ax, i):
        ax.imshow(x[i].reshape(28, 28), cmap="binary")

    panels.example_grid(fig, cell, panel, len(panel["labels"]) // 2, image, titles=False)


TASK = Task(
    config_cls=CnnConfig,
    title="Fashion-MNIST (CNN)",
    code_file="main_CNN_jax.py",
    data_env="FASHION_MNIST_DIR",
    dataset=FashionMnistDataset,
    model=cnn_model,
    class_names=class_names,
    data_depends_on_seed=False,
    mismatch_levels=(0.0, 0.5, 0.7, 0.9, 1.1, 1.5),
    panel_sigma=0.9,
    panel_examples=((0, 1, 4, 5), 5),  # T-shirt, trouser, coat, sandal: five each
    draw_panel=draw_panel,
    original_min_logs=50,
    quick_clean_floor=0.85,
    simulated_panel=("frame", 0.5, 0.1),  # red frames drawn at random: Normal 0.5, Robust 0.1
)
