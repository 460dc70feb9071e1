"""Speech Commands on the real v0.02 subset: hash split, silence/unknown index, features, augmentation."""

import collections

import numpy as np
import pytest

from robustness.tasks import SpeechConfig
from robustness.data import load_dataset
from robustness.datasets import CACHE_ENV, DataError
from TensorCommands import audio, features, index
from TensorCommands.dataset import Background, Mixing, draw_mixing, mix_audio

# SOURCE.md of the subset: clips per word and split (computed there from the official lists).
SUBSET_SPLITS = {"yes": (964, 97, 139), "no": (929, 113, 158), "up": (391, 32, 57), "down": (397, 40, 47)}


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("speech_cache")))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def dataset(speech_dir):
    return load_dataset(SpeechConfig(seed=0))


def test_hash_split_reproduces_the_official_lists(speech_dir):
    files = index.scan_dataset(speech_dir)
    assert sorted(files.clips) == ["down", "no", "up", "yes"] and len(files.background) == 6
    validation = set((speech_dir / "validation_list.txt").read_text().split())
    testing = set((speech_dir / "testing_list.txt").read_text().split())
    for word, paths in files.clips.items():
        got = collections.Counter(index.which_set(p) for p in paths)
        assert (got["training"], got["validation"], got["testing"]) == SUBSET_SPLITS[word]
        for p in paths:
            official = "validation" if p in validation else "testing" if p in testing else "training"
            assert index.which_set(p) == official, p
    # speaker-stable: every clip of a speaker prefix shares the split, whatever the word folder
    assert index.which_set("yes/004ae714_nohash_0.wav") == index.which_set("no/004ae714_nohash_3.wav")


def test_index_sizes_follow_the_ceil_10_percent_rule(speech_dir):
    files = index.scan_dataset(speech_dir)
    built = index.build_index(files, ["yes", "no"], np.random.default_rng(0))
    # wanted words per split: train 964+929, validation 97+113, test 139+158; silence = unknown = ceil(10 %)
    expected = {"training": (1893, 190), "validation": (210, 21), "testing": (297, 30)}
    for split, (n_wanted, extra) in expected.items():
        labels = collections.Counter(lab for lab, _ in built[split])
        assert labels == {
            2: SUBSET_SPLITS["yes"][("training", "validation", "testing").index(split)],
            3: SUBSET_SPLITS["no"][("training", "validation", "testing").index(split)],
            0: extra,
            1: extra,
        }
        unknowns = [p for lab, p in built[split] if lab == 1]
        assert len(set(unknowns)) == extra and all(p.split("/")[0] in ("up", "down") for p in unknowns)
        assert all(index.which_set(p) == split for p in unknowns)
        assert all(p is None for lab, p in built[split] if lab == 0)
    again = index.build_index(files, ["yes", "no"], np.random.default_rng(0))
    other = index.build_index(files, ["yes", "no"], np.random.default_rng(1))
    assert again == built and other["training"] != built["training"]
    with pytest.raises(DataError, match="left"):
        index.build_index(files, ["yes", "left"], np.random.default_rng(0))


def test_feature_building_blocks_by_hand():
    w = features.periodic_hann(480)
    assert w[0] == 0 and w[240] == pytest.approx(1.0) and np.allclose(w[1:], w[1:][::-1]) and w.sum() == 240
    assert features.fft_length_for(480) == 512
    # a 1000 Hz sine is exactly FFT bin 32 (16000/512 = 31.25 Hz): |X| = A·Σw/2 = 0.5·240/2 = 60
    t = np.arange(16000) / 16000
    mag = features.stft_magnitude(0.5 * np.sin(2 * np.pi * 1000 * t).astype(np.float32))
    assert mag.shape == (98, 257) and np.all(mag.argmax(axis=1) == 32)
    assert mag[:, 32] == pytest.approx(60.0, rel=2e-3)
    mel = features.linear_to_mel_weight_matrix()
    assert mel.shape == (257, 40) and np.all(mel[0] == 0) and mel.min() >= 0 and mel.max() <= 1
    hz = np.arange(257) * 31.25
    assert np.all(mel[(hz < 125) | (hz > 3800)] == 0)
    # between the first and the last centre the triangles form a partition of unity (TF's construction)
    centres_hz = 700 * np.expm1(
        np.linspace(features.hertz_to_mel(125), features.hertz_to_mel(3800), 42) / 1127
    )
    inner = (hz > centres_hz[1]) & (hz < centres_hz[-2])
    np.testing.assert_allclose(mel[inner].sum(axis=1), 1.0, atol=1e-5)


def test_mfcc_of_silence_is_the_originals_feature_floor():
    # log(0 + 1e-12) in every mel bin → c0 = sqrt(2·40)·ln(1e-12) = −247.14 (input_data.py: features_min = −247)
    out = features.mfcc(np.zeros((2, 16000), np.float32))
    assert out.shape == (2, 98, 40) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], np.sqrt(80) * np.log(1e-12), rtol=1e-6)
    np.testing.assert_allclose(out[..., 1:], 0, atol=1e-4)


def test_augmentation_draws_have_the_reports_statistics():
    config = SpeechConfig()
    bg = Background.from_list([np.zeros(30_000, np.float32), np.zeros(50_000, np.float32)])
    n = 40_000
    silence = np.arange(n) % 4 == 0
    m = draw_mixing(np.random.default_rng(1), silence, bg, config, training=True)
    assert m.shift.min() == -1600 and m.shift.max() == 1599 and abs(m.shift.mean()) < 15
    assert np.all(m.bg_offset < bg.lengths[m.bg_index] - 16000) and m.bg_offset.min() >= 0
    words = m.bg_volume[~silence]
    assert np.mean(words > 0) == pytest.approx(0.8, abs=0.01) and words.max() <= 0.1
    assert words[words > 0].mean() == pytest.approx(0.05, abs=0.002)
    assert m.bg_volume[silence].mean() == pytest.approx(0.5, abs=0.01) and m.bg_volume[silence].max() <= 1
    e = draw_mixing(np.random.default_rng(1), silence, bg, config, training=False)
    assert np.all(e.shift == 0) and np.all(e.bg_volume[~silence] == 0) and np.all(e.bg_volume[silence] > 0)


def test_mixing_shifts_pads_adds_noise_and_clips():
    clips = np.tile(np.arange(1, 17, dtype=np.int16) * 2048, (4, 1))  # values k/16 after /32768
    noise = np.linspace(-1, 1, 40).astype(np.float32)
    bg = Background.from_list([noise])
    m = Mixing(
        shift=np.array([3, -5, 0, 0]),
        bg_index=np.zeros(4, int),
        bg_offset=np.array([0, 0, 2, 10]),
        bg_volume=np.array([0, 0, 0.5, 4.0], np.float32),
    )
    out = mix_audio(clips, np.array([False, False, True, False]), m, bg)
    ref = clips[0] / 32768
    np.testing.assert_array_equal(out[0], np.r_[np.zeros(3), ref[:-3]])  # delayed, zeros in front
    np.testing.assert_array_equal(out[1], np.r_[ref[5:], np.zeros(5)])  # advanced, zeros at the end
    np.testing.assert_allclose(out[2], 0.5 * noise[2:18])  # silence: foreground muted, noise only
    np.testing.assert_allclose(out[3], np.clip(ref + 4.0 * noise[10:26], -1, 1))
    assert out[3].max() == 1.0 and out[3].min() == -1.0


def test_dataset_splits_on_the_real_subset(dataset):
    s = dataset.summary()
    assert s["classes"] == ["_silence_", "_unknown_", "yes", "no"] and s["unknown_words"] == ["down", "up"]
    assert s["splits"]["train"] == {
        "size": 2273,
        "counts": {"_silence_": 190, "_unknown_": 190, "yes": 964, "no": 929},
    }
    assert s["splits"]["validation"] == {
        "size": 252,
        "counts": {"_silence_": 21, "_unknown_": 21, "yes": 97, "no": 113},
    }
    assert s["splits"]["test"] == {
        "size": 357,
        "counts": {"_silence_": 30, "_unknown_": 30, "yes": 139, "no": 158},
    }
    assert (dataset.n_classes, dataset.input_shape, dataset.n_train) == (4, (98, 40), 2273)


def test_train_batches_are_pure_functions_of_seed_and_step(dataset):
    x, y = dataset.train_batch(3, 17, 100)
    assert x.shape == (100, 98, 40) and x.dtype == np.float32 and y.dtype == np.int32
    x2, y2 = dataset.train_batch(3, 17, 100)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = dataset.train_batch(3, 18, 100)
    x4, _ = dataset.train_batch(4, 17, 100)
    assert not np.array_equal(x, x3) and not np.array_equal(x, x4)
    labels = np.concatenate([dataset.train_batch(0, s, 100)[1] for s in range(30)])
    assert np.mean(labels >= 2) == pytest.approx(1893 / 2273, abs=0.04)  # uniform with replacement


def test_evaluation_splits_are_deterministic_and_use_the_right_seeds(dataset, speech_dir):
    xv, yv = dataset.split("validation")
    xt, yt = dataset.split("test")
    assert xv.shape == (252, 98, 40) and xt.shape == (357, 98, 40) and yv.dtype == np.int32
    other = load_dataset(SpeechConfig(seed=5))  # new seed: new validation selection, same test (eval_seed)
    xt5, yt5 = other.split("test")
    np.testing.assert_array_equal(xt, xt5)
    np.testing.assert_array_equal(yt, yt5)
    assert other._entries["validation"] != dataset._entries["validation"]
    rows, _ = dataset._rows("validation")
    word = int(np.where(rows >= 0)[0][0])  # a word entry: plain MFCC of its clip, no shift or noise
    expected = features.mfcc(dataset._audio[rows[word]] / np.float32(32768))  # BLAS blocking: ~1e-6 apart
    np.testing.assert_allclose(xv[word], expected, rtol=1e-5, atol=1e-4)
    silent = xv[yv == 0][:, :, 0]
    assert np.all(silent.mean(axis=1) > -247.0)  # silence carries background noise, not digital zero
    with pytest.raises(ValueError, match="unknown split"):
        dataset.split("training")


def test_bad_audio_files_and_offline_download_fail_clearly(tmp_path, speech_dir):
    good = (speech_dir / "yes" / "004ae714_nohash_0.wav").read_bytes()
    (tmp_path / "trunc.wav").write_bytes(good[:20_000])
    (tmp_path / "junk.wav").write_bytes(b"hello" * 20)
    with pytest.raises(DataError, match="trunc.wav is truncated"):
        audio.read_wav(tmp_path / "trunc.wav")
    with pytest.raises(DataError, match="junk.wav is not a RIFF"):
        audio.read_wav(tmp_path / "junk.wav")
    clip = audio.decode_clip(speech_dir / "yes" / "004ae714_nohash_0.wav")
    assert clip.dtype == np.int16 and clip.shape == (16000,)
    with pytest.raises(DataError, match=r"could not download .* put the Speech Commands v0.02 files"):
        audio.download_speech_commands(tmp_path / "sc", "http://127.0.0.1:9/speech_commands_v0.02.tar.gz")
    config = SpeechConfig(data_dir=str(tmp_path / "empty"), data_url="http://127.0.0.1:9/x.tar.gz")
    with pytest.raises(DataError, match=str(tmp_path / "empty")):
        load_dataset(config)
