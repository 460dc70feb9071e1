"""Fashion-MNIST from the Debian package's IDX files: reading, Keras-equivalent augmentation, the ×3 pool."""

import gzip
import importlib.util

import numpy as np
import pytest
from scipy import ndimage

from CNN import augment, fashion_mnist
from robustness.tasks import CnnConfig
from robustness.data import load_dataset
from robustness.datasets import CACHE_ENV, DataError
from tests.conftest import require


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("fmnist_cache")))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def raw(fashion_dir):
    arrays, _ = fashion_mnist.load_raw(fashion_dir, "idx")
    return arrays


@pytest.fixture(scope="module")
def dataset(fashion_dir):
    """The report configuration: the full 60k × 3 augmented pool (built once, ~15 s on 2 cores)."""
    return load_dataset(CnnConfig())


def test_idx_files_hold_the_official_data(raw):
    assert raw["train_images"].shape == (60000, 28, 28) and raw["test_images"].shape == (10000, 28, 28)
    assert raw["train_images"].dtype == np.uint8
    assert list(raw["train_labels"][:10]) == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]  # official first labels
    assert np.all(np.bincount(raw["train_labels"]) == 6000) and np.all(
        np.bincount(raw["test_labels"]) == 1000
    )
    pixels = raw["train_images"] / 255.0
    assert pixels.mean() == pytest.approx(0.2860, abs=5e-5) and pixels.std() == pytest.approx(
        0.3530, abs=5e-5
    )


def test_malformed_idx_files_fail_naming_the_file(fashion_dir, tmp_path):
    labels = gzip.decompress((fashion_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (tmp_path / "short-idx1-ubyte").write_bytes(labels[:5000])
    (tmp_path / "magic-idx1-ubyte").write_bytes(b"\x00\x00\x08\x03" + labels[4:])
    (tmp_path / "broken-idx1-ubyte.gz").write_bytes(gzip.compress(labels)[:1000])
    with pytest.raises(DataError, match=r"short-idx1-ubyte: header shape \(10000,\) needs 10000 data bytes"):
        fashion_mnist.read_idx(tmp_path / "short-idx1-ubyte", 1)
    with pytest.raises(DataError, match="magic-idx1-ubyte: IDX magic number 2051, expected 2049"):
        fashion_mnist.read_idx(tmp_path / "magic-idx1-ubyte", 1)
    with pytest.raises(DataError, match="broken-idx1-ubyte.gz"):
        fashion_mnist.read_idx(tmp_path / "broken-idx1-ubyte.gz", 1)
    np.testing.assert_array_equal(
        fashion_mnist.read_idx(fashion_dir / "t10k-labels-idx1-ubyte.gz", 1)[:3], [9, 2, 1]
    )


def test_transform_semantics_by_hand(raw):
    img = raw["train_images"][:3].astype(np.float32) / 255
    same = augment.transform_images(img, np.zeros(3), np.zeros(3, bool))
    np.testing.assert_array_equal(same, img)
    flipped = augment.transform_images(img, np.zeros(3), np.array([True, False, True]))
    np.testing.assert_array_equal(flipped[0], img[0][:, ::-1])
    np.testing.assert_array_equal(flipped[1], img[1])
    # 90° about keras-preprocessing's centre (14.5, 14.5): out[r, c] = in[29 − c, r], nearest fill for c < 2
    rot = augment.transform_images(img[:1], np.array([90.0]), np.zeros(1, bool))[0]
    r, c = np.meshgrid(np.arange(28), np.arange(28), indexing="ij")
    np.testing.assert_allclose(rot, img[0][np.clip(29 - c, 0, 27), r], atol=1e-6)
    angles = np.array([7.3, -9.9])
    ours = augment.transform_images(img[:2], angles, np.zeros(2, bool))
    for i, angle in enumerate(angles):  # Keras' call: one affine_transform, order 1, mode nearest
        matrix, offset = augment.rotation_affine(angle, 28, 28)
        ref = ndimage.affine_transform(img[i], matrix, offset, order=1, mode="nearest")
        np.testing.assert_array_equal(ours[i], ref)
        assert 0 < np.abs(ours[i] - img[i]).mean() and ours[i].min() >= 0 and ours[i].max() <= 1


def test_augmentation_statistics_and_determinism(raw):
    angles, flips = augment.draw_transforms(np.random.default_rng(0), 200_000)
    assert -10 <= angles.min() and angles.max() < 10 and abs(angles.mean()) < 0.05
    assert angles.var() == pytest.approx(100 / 3, rel=0.01) and flips.mean() == pytest.approx(0.5, abs=0.003)
    pool = augment.augment_pool(raw["train_images"][:400], 2, np.random.default_rng(5))
    assert pool.shape == (2, 400, 28, 28) and pool.dtype == np.float16
    again = augment.augment_pool(raw["train_images"][:400], 2, np.random.default_rng(5))
    np.testing.assert_array_equal(pool, again)
    assert not np.array_equal(pool[0], pool[1])
    # rotation conserves the ink roughly (nearest fill adds a little at the borders)
    ink = raw["train_images"][:400].astype(np.float64).sum(axis=(1, 2)) / 255
    assert np.median(pool[0].astype(np.float64).sum(axis=(1, 2)) / ink) == pytest.approx(1.0, abs=0.02)


def test_report_pool_split_sizes_and_counts(dataset):
    s = dataset.summary()
    assert s["splits"]["train"]["size"] == 144_000 and s["splits"]["validation"]["size"] == 36_000
    assert sum(s["splits"]["train"]["counts"].values()) == 144_000
    assert all(v == 1000 for v in s["splits"]["test"]["counts"].values())
    train_counts = np.array(list(s["splits"]["train"]["counts"].values()))
    val_counts = np.array(list(s["splits"]["validation"]["counts"].values()))
    np.testing.assert_array_equal(train_counts + val_counts, 18_000)  # 6000 images × 3 versions per class
    assert (dataset.n_classes, dataset.input_shape) == (10, (1, 28, 28))
    per = 3
    val_images = set(dataset._val_pos // per)
    assert len(val_images & set(dataset._train_pos // per)) > 20_000  # quirk 9: validation leaks
    x, y = dataset.split("test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int32
    assert x.mean() == pytest.approx(0.2868, abs=1e-3)


def test_batches_are_epochwise_permutations(dataset):
    x, y = dataset.train_batch(0, 5, 100)
    assert x.shape == (100, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(x, dataset.train_batch(0, 5, 100)[0])
    assert not np.array_equal(x, dataset.train_batch(1, 5, 100)[0])
    assert x.min() >= 0 and x.max() <= 1


def test_originals_first_split_has_no_leak(dataset):
    clean = load_dataset(CnnConfig(val_from_augmented=False))  # same cache, different split
    s = clean.summary()["splits"]
    assert s["train"]["size"] == 144_000 and s["validation"]["size"] == 12_000
    assert not set(clean._val_pos // 3) & set(clean._train_pos // 3)
    xv, _ = clean.split("validation")
    np.testing.assert_array_equal(xv[:, 0], clean._images[clean._val_pos // 3] / np.float32(255))


@pytest.mark.tf
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_transform_matches_keras(raw):
    require(importlib.util.find_spec("keras") is not None, "Keras (augmentation reference)")
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    # Keras 3 rotates about (h/2 − 0.5) and swaps the axes (≡ −θ); with those two mapped the pixels agree
    gen = ImageDataGenerator(rotation_range=10, horizontal_flip=True, fill_mode="nearest")
    img = raw["train_images"][:20].astype(np.float32) / 255
    angles = np.linspace(-9.5, 9.5, 20)
    flips = np.arange(20) % 2 == 0
    keras = np.stack(
        [
            gen.apply_transform(img[i][:, :, None], {"theta": angles[i], "flip_horizontal": flips[i]})
            for i in range(20)
        ]
    )[..., 0]
    ours = augment.transform_images(img, -angles, flips, centre_shift=-0.5)
    np.testing.assert_allclose(ours, keras, atol=1e-6)
