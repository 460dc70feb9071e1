"""Parity of the numpy MFCC pipeline with the original TensorFlow ops (``input_data.py@47ed9584``).

Runs where TensorFlow is importable; under CI=true a missing TensorFlow fails (``require``).
"""

import importlib.util

import numpy as np
import pytest

from TensorCommands import audio, features
from TensorCommands.dataset import Background, Mixing, mix_audio
from tests.conftest import require

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def tf():
    require(importlib.util.find_spec("tensorflow") is not None, "TensorFlow (MFCC reference)")
    import tensorflow

    return tensorflow


def _original_mfcc(tf, audio_batch):
    """The original ``get_processing`` MFCC branch, batched (the ops act on the last axis)."""

    def periodic_hann_window(window_length, dtype):
        n = tf.range(tf.cast(window_length, dtype=dtype), dtype=dtype)
        return 0.5 - 0.5 * tf.math.cos(2.0 * np.pi * n / tf.cast(window_length, dtype=dtype))

    stft = tf.signal.stft(audio_batch, frame_length=480, frame_step=160, window_fn=periodic_hann_window)
    spectrogram = tf.abs(stft)
    mel_matrix = tf.signal.linear_to_mel_weight_matrix(40, stft.shape[-1], 16000)
    mel = tf.tensordot(spectrogram, mel_matrix, 1)
    log_mel = tf.math.log(mel + 1e-12)
    return tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :40], spectrogram, mel_matrix


@pytest.fixture(scope="module")
def clips(speech_dir):
    """16 real clips (some shorter than 1 s, zero-padded), one all-zero, one noisy and time-shifted."""
    paths = sorted((speech_dir / "no").glob("*.wav"))[:14] + sorted((speech_dir / "down").glob("*.wav"))[:2]
    raw = np.stack([audio.decode_clip(p) for p in paths])
    noise = audio.load_background(speech_dir, ["_background_noise_/running_tap.wav"])
    mixing = Mixing(
        np.array([0] * 16 + [0, 1200]),
        np.zeros(18, int),
        np.array([0] * 16 + [0, 5000]),
        np.array([0] * 17 + [0.1], np.float32),
    )
    batch = np.concatenate([raw, np.zeros((1, 16000), np.int16), raw[:1]])
    return mix_audio(batch, np.zeros(18, bool), mixing, Background.from_list(noise))


def test_mel_matrix_and_window_match_tf(tf):
    ours = features.linear_to_mel_weight_matrix(40, 257, 16000, 125.0, 3800.0)
    theirs = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 125.0, 3800.0).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_allclose(
        features.periodic_hann(480), tf.signal.hann_window(480, periodic=True).numpy(), atol=1e-6
    )


def test_mfcc_matches_the_original_tf_pipeline(tf, clips):
    theirs, spectrogram, _ = _original_mfcc(tf, tf.constant(clips))
    np.testing.assert_allclose(features.stft_magnitude(clips), spectrogram.numpy(), rtol=1e-4, atol=1e-4)
    ours = features.mfcc(clips)
    assert ours.shape == (18, 98, 40) == tuple(theirs.shape)
    # float32 FFT/log rounding differs between the libraries; the MFCC range is about [−250, 30]
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-4, atol=2e-3)
    np.testing.assert_allclose(ours[16, :, 0], np.sqrt(80) * np.log(1e-12), rtol=1e-6)


def test_wav_decoding_matches_tf_decode_wav(tf, speech_dir):
    for path in sorted((speech_dir / "yes").glob("*.wav"))[:40]:
        decoded = tf.audio.decode_wav(tf.io.read_file(str(path)), desired_channels=1, desired_samples=16000)
        np.testing.assert_array_equal(audio.decode_clip(path) / 32768.0, decoded.audio.numpy()[:, 0])
