"""The task registry: one module per task (``speech``, ``ecg``, ``fashion_mnist``), each defining its config
class, data reader, model, class names, data-folder variable and figure_main panel in one ``TASK``.

The training loop, the Experiments and the launch layer look a task up here (``get_task(architecture)``,
``task_of(config)``) and never branch on a config's type. Adding a task: write ``robustness/tasks/<name>.py``
after the model of the others (a ``TrainConfig`` subclass with its ``ARCHITECTURE`` name and a ``TASK``),
add it to ``TASKS`` below, and add a ``main_<name>.py`` that calls ``robustness.training.main`` with the
config class (README, "Adding a task").
"""

from __future__ import annotations

from robustness.configs import TrainConfig, from_flags
from robustness.tasks import ecg, fashion_mnist, speech
from robustness.tasks.base import Model, Task
from robustness.tasks.ecg import EcgConfig
from robustness.tasks.fashion_mnist import CnnConfig
from robustness.tasks.lsnn_common import LsnnConfig
from robustness.tasks.speech import SpeechConfig

# architecture name -> task, in the order of the figures and tables
TASKS: dict[str, Task] = {task.architecture: task for task in (speech.TASK, ecg.TASK, fashion_mnist.TASK)}

__all__ = [
    "TASKS",
    "CnnConfig",
    "EcgConfig",
    "LsnnConfig",
    "Model",
    "SpeechConfig",
    "Task",
    "config_from_flags",
    "get_task",
    "make_task",
    "task_of",
]


def get_task(architecture: str) -> Task:
    """The task called ``architecture`` (``speech_lsnn``, ``ecg_lsnn``, ``cnn``)."""
    try:
        return TASKS[architecture]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of {sorted(TASKS)}") from None


def task_of(config: TrainConfig) -> Task:
    """The task whose config class ``config`` is."""
    task = TASKS.get(getattr(type(config), "ARCHITECTURE", None))
    if task is None or not isinstance(config, task.config_cls):
        raise TypeError(f"no task for config type {type(config).__name__}")
    return task


def make_task(config: TrainConfig, n_in: int | None = None) -> Model:
    """Model functions for ``config``; ``n_in`` overrides the LSNN input width (default from the config)."""
    return task_of(config).model(config, n_in)


def config_from_flags(flags: dict) -> TrainConfig:
    """The config stored in a model file's ``params`` (its ``architecture`` picks the class)."""
    return from_flags(get_task(flags["architecture"]).config_cls, flags)
