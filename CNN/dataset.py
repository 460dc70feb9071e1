"""Fashion-MNIST with the report's offline ×3 augmentation as a :class:`robustness.datasets.Dataset` (§3.3, quirk 9).

Pool: per training image its ``augment_copies`` augmented versions followed by the original (the original's
order), all /255. ``val_from_augmented=True`` (report): ``train_test_split(pool, test_size=0.2,
random_state=42)`` → 144k/36k, so validation holds augmented copies of training images. False: the 60k
originals are split first (48k/12k) and only the training images' augmented copies join training.
Test: the official 10k, no augmentation. Images are NCHW [1, 28, 28] float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from CNN.augment import augment_pool
from CNN.fashion_mnist import CLASS_NAMES, FILES, find_file, load_raw, locate
from robustness.datasets import (
    DataError,
    Dataset,
    cached,
    class_counts,
    epoch_batch_indices,
    file_manifest,
    manifest_digest,
    sklearn_split,
)

SPLIT_SEED = 42
AUGMENT_STREAM, BATCH_STREAM = 31, 32


def load_arrays(data_dir, copies: int, source: str = "auto") -> dict[str, np.ndarray]:
    """Raw uint8 train/test images and labels plus float16 [copies, 60000, 28, 28] augmentations, cached
    on disk (keyed by the source files, ``copies`` and the augmentation seed)."""
    try:
        directory = locate(data_dir)
        files = [find_file(directory, name) for name in FILES]
        key = f"{directory}:{manifest_digest(file_manifest(files, directory))}"
    except DataError:
        key = f"download-or-tfds:{data_dir}"  # nothing local yet: load_raw fetches it
    settings = {
        "source": key,
        "copies": copies,
        "seed": [AUGMENT_STREAM, SPLIT_SEED],
        "keras_centre": 0.5,
        "version": 1,
    }

    def build():
        raw, origin = load_raw(data_dir, source)
        rng = np.random.default_rng([AUGMENT_STREAM, SPLIT_SEED])
        raw["augmented"] = augment_pool(raw["train_images"], copies, rng)
        raw["origin"] = np.array(origin)
        return raw

    return cached("fmnist", settings, build)


class FashionMnistDataset(Dataset):
    """10 classes, x float32 [1, 28, 28] in [0, 1] (no normalisation: the model standardises batches)."""

    name = "fashion_mnist"
    n_classes = 10
    input_shape = (1, 28, 28)

    def __init__(self, config):
        """``config``: any object with the Fashion-MNIST flags of ``robustness.tasks.fashion_mnist.CnnConfig``;
        ``config.data_dir`` is the resolved data folder."""
        if config.augment_copies < 0:
            raise ValueError(f"-augment_copies must be ≥ 0, got {config.augment_copies}")
        self.config = config
        self.root = Path(config.data_dir)
        arrays = load_arrays(self.root, config.augment_copies)
        self.origin = str(arrays["origin"])
        self._images, self._labels = arrays["train_images"], arrays["train_labels"].astype(np.int32)
        self._augmented = arrays["augmented"]
        self._test = (arrays["test_images"], arrays["test_labels"].astype(np.int32))
        per = config.augment_copies + 1
        n_images = self._images.shape[0]
        if config.val_from_augmented:
            self._train_pos, self._val_pos = sklearn_split(n_images * per, 0.2, SPLIT_SEED)
        else:
            train_img, val_img = sklearn_split(n_images, 0.2, SPLIT_SEED)
            self._train_pos = (train_img[:, None] * per + np.arange(per)[None, :]).reshape(-1)
            self._val_pos = val_img * per + config.augment_copies  # originals only
        self.n_train = int(self._train_pos.size)
        self._eval = {}

    def _gather(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pool positions → (float32 [n, 1, 28, 28], int32 [n]); position = image·(copies+1) + version,
        version ``copies`` being the original."""
        image, version = np.divmod(positions, self.config.augment_copies + 1)
        original = version == self.config.augment_copies
        x = np.empty((positions.size, 28, 28), dtype=np.float32)
        x[original] = self._images[image[original]].astype(np.float32) / np.float32(255.0)
        x[~original] = self._augmented[version[~original], image[~original]].astype(np.float32)
        return x[:, None], self._labels[image]

    def train_batch(self, seed: int, step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Epoch-wise shuffled sequential batches; epoch e permuted by ``default_rng([32, seed, e])``."""
        idx = epoch_batch_indices(seed, step, batch_size, self.n_train, BATCH_STREAM)
        return self._gather(self._train_pos[idx])

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        self._check_split_name(name)
        if name not in self._eval:
            if name == "validation":
                self._eval[name] = self._gather(self._val_pos)
            else:
                images, labels = self._test
                self._eval[name] = ((images.astype(np.float32) / np.float32(255.0))[:, None], labels)
        return self._eval[name]

    def summary(self) -> dict:
        names = list(CLASS_NAMES)
        labels = {
            "train": self._labels[self._train_pos // (self.config.augment_copies + 1)],
            "validation": self._labels[self._val_pos // (self.config.augment_copies + 1)],
            "test": self._test[1],
        }
        return {
            "name": self.name,
            "source": self.origin,
            "classes": names,
            "augment_copies": self.config.augment_copies,
            "val_from_augmented": self.config.val_from_augmented,
            "input_shape": list(self.input_shape),
            "splits": {s: {"size": int(y.size), "counts": class_counts(y, names)} for s, y in labels.items()},
        }
