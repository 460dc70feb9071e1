"""MFCC features exactly as the original TF pipeline computed them, in numpy (docs/original.md §3.1).

The original (``TensorCommands/input_data.py@47ed9584``, ``get_processing``) ran, per clip:
``tf.signal.stft(frame 480, step 160, periodic Hann, FFT 512)`` → ``abs`` → ``tensordot`` with
``tf.signal.linear_to_mel_weight_matrix(40, 257, 16000)`` (TF defaults 125–3800 Hz) → ``log(x + 1e-12)``
→ ``tf.signal.mfccs_from_log_mel_spectrograms`` → keep all 40. The helpers below re-derive TF's matrices
(same formulas, float64 then cast to float32) and vectorise over a batch; ``tests/test_mfcc_tf_parity.py``
checks them against ``tf.signal``.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft

LOG_NOISE_FLOOR = 1e-12
MEL_BREAK_HZ = 700.0
MEL_HIGH_Q = 1127.0


def periodic_hann(length: int) -> np.ndarray:
    """``0.5 − 0.5·cos(2πn/L)``, n = 0..L−1 (the original's ``periodic_hann_window``), float32 [L]."""
    n = np.arange(length, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)).astype(np.float32)


def fft_length_for(frame_length: int) -> int:
    """TF's default FFT length: the smallest power of two ≥ ``frame_length`` (480 → 512)."""
    return 1 << (int(frame_length) - 1).bit_length()


def frame(audio: np.ndarray, frame_length: int, frame_step: int) -> np.ndarray:
    """Frames without end padding (``pad_end=False``): [..., samples] → [..., n_frames, frame_length]."""
    n_frames = 1 + (audio.shape[-1] - frame_length) // frame_step
    windows = np.lib.stride_tricks.sliding_window_view(audio, frame_length, axis=-1)
    return windows[..., : (n_frames - 1) * frame_step + 1 : frame_step, :]


def stft_spectrum(audio: np.ndarray, frame_length: int = 480, frame_step: int = 160) -> np.ndarray:
    """``tf.signal.stft(audio, frame_length, frame_step, window_fn=periodic Hann)``, complex64.

    audio float32 [..., samples] → complex64 [..., frames, fft/2 + 1] (16000 → [98, 257]). The windowed
    frames are written into a zero-padded power-of-two buffer (the FFT's zero padding), ~2× faster than
    letting the FFT pad.
    """
    fft_length = fft_length_for(frame_length)
    frames = frame(np.asarray(audio, dtype=np.float32), frame_length, frame_step)
    buffer = np.zeros(frames.shape[:-1] + (fft_length,), dtype=np.float32)
    np.multiply(frames, periodic_hann(frame_length), out=buffer[..., :frame_length])
    return scipy.fft.rfft(buffer, axis=-1, overwrite_x=True)


def stft_magnitude(audio: np.ndarray, frame_length: int = 480, frame_step: int = 160) -> np.ndarray:
    """``|stft|``: float32 [..., frames, fft/2 + 1], the original's magnitude (not power) spectrogram."""
    return np.abs(stft_spectrum(audio, frame_length, frame_step))


def _matmul_last(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``x @ matrix`` over the last axis as one 2-D BLAS call (batched 3-D matmul is ~10× slower)."""
    return (x.reshape(-1, x.shape[-1]) @ matrix).reshape(x.shape[:-1] + (matrix.shape[1],))


def hertz_to_mel(frequencies_hz):
    """TF's HTK-style mel scale: ``1127·ln(1 + f/700)``."""
    return MEL_HIGH_Q * np.log1p(np.asarray(frequencies_hz, dtype=np.float64) / MEL_BREAK_HZ)


@functools.lru_cache(maxsize=8)
def linear_to_mel_weight_matrix(
    num_mel_bins: int = 40,
    num_spectrogram_bins: int = 257,
    sample_rate: float = 16000,
    lower_edge_hertz: float = 125.0,
    upper_edge_hertz: float = 3800.0,
) -> np.ndarray:
    """``tf.signal.linear_to_mel_weight_matrix``: triangular filters in mel space, float32 [bins, mels].

    As in TF, the DC bin is excluded (its row is zero) and filter edges are equally spaced in mel between
    the lower and upper edge; each weight is ``max(0, min(rising slope, falling slope))``.
    """
    nyquist = sample_rate / 2.0
    linear_hz = np.linspace(0.0, nyquist, num_spectrogram_bins)[1:]
    spectrogram_mel = hertz_to_mel(linear_hz)[:, None]
    edges = np.linspace(hertz_to_mel(lower_edge_hertz), hertz_to_mel(upper_edge_hertz), num_mel_bins + 2)
    lower, center, upper = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    lower_slopes = (spectrogram_mel - lower) / (center - lower)
    upper_slopes = (upper - spectrogram_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(lower_slopes, upper_slopes))
    weights = np.pad(weights, [[1, 0], [0, 0]]).astype(np.float32)
    weights.flags.writeable = False  # shared by the cache: never modified in place
    return weights


@functools.lru_cache(maxsize=8)
def mfcc_dct_matrix(num_mel_bins: int = 40) -> np.ndarray:
    """``tf.signal.mfccs_from_log_mel_spectrograms`` as a matrix: unnormalised DCT-II scaled by
    ``1/sqrt(2·M)``, i.e. ``mfcc = log_mel @ D`` with ``D[n, k] = 2·cos(πk(2n+1)/(2M)) / sqrt(2M)``,
    float32 [M, M]."""
    m = num_mel_bins
    n = np.arange(m, dtype=np.float64)[:, None]
    k = np.arange(m, dtype=np.float64)[None, :]
    dct = (2.0 * np.cos(np.pi * k * (2.0 * n + 1.0) / (2.0 * m)) / np.sqrt(2.0 * m)).astype(np.float32)
    dct.flags.writeable = False
    return dct


def log_mel_spectrogram(
    audio: np.ndarray,
    sample_rate: int = 16000,
    frame_length: int = 480,
    frame_step: int = 160,
    num_mel_bins: int = 40,
) -> np.ndarray:
    """``log(|STFT| @ mel + 1e-12)``: float32 [..., samples] → float32 [..., frames, mels].

    Only the FFT bins inside the filter bank (125–3800 Hz: bins 5–121 of 257) enter the product; the other
    weights are exactly zero, so this equals the full product up to float summation order, ~2× cheaper.
    """
    spectrum = stft_spectrum(audio, frame_length, frame_step)
    weights = linear_to_mel_weight_matrix(num_mel_bins, spectrum.shape[-1], sample_rate)
    used = np.flatnonzero(weights.any(axis=1))
    band = slice(used[0], used[-1] + 1)
    mel = _matmul_last(np.abs(spectrum[..., band]), weights[band])
    return np.log(mel + np.float32(LOG_NOISE_FLOOR))


def mfcc(
    audio: np.ndarray,
    sample_rate: int = 16000,
    frame_length: int = 480,
    frame_step: int = 160,
    num_mel_bins: int = 40,
    num_mfccs: int = 40,
) -> np.ndarray:
    """The report's speech features: float32 audio [..., 16000] in [−1, 1] → float32 [..., 98, 40]."""
    log_mel = log_mel_spectrogram(audio, sample_rate, frame_length, frame_step, num_mel_bins)
    return _matmul_last(log_mel, mfcc_dct_matrix(num_mel_bins))[..., :num_mfccs]
