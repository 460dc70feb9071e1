"""Reading Speech Commands audio: checked WAV decoding, an in-process + on-disk clip cache, the downloader.

Clips are kept as int16 (TF's ``decode_wav`` value ×32768) padded/truncated to ``desired_samples``; the
float conversion ``/32768`` happens per batch. Decoded clips are memoised per process (so building the
dataset for another seed decodes only the clips not seen yet) and cached on disk per clip list.
"""

from __future__ import annotations

import hashlib
import struct
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import soundfile

from robustness import files
from robustness.datasets import DataError, cached, file_manifest, manifest_digest

# SHA-256 of the official speech_commands_v0.02.tar.gz (2.3 GB, 105,829 clips).
SPEECH_COMMANDS_V2_SHA256 = "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"
LAYOUT_HINT = "<word>/<speaker>_nohash_<n>.wav and _background_noise_/*.wav"

_CLIP_MEMO: dict[tuple, np.ndarray] = {}


def read_wav(path) -> tuple[np.ndarray, int]:
    """Decode a mono 16-bit PCM WAV → (int16 [n], sample rate); DataError naming the file if it is not one,
    or if the RIFF header declares more bytes than the file holds (a truncated copy)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError as err:
        raise DataError(f"cannot read WAV file {path}: {err}") from None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise DataError(f"{path} is not a RIFF/WAVE file ({size} bytes)")
    declared = struct.unpack("<I", head[4:8])[0] + 8
    if declared > size:
        raise DataError(
            f"WAV file {path} is truncated: its header declares {declared} bytes, the file has {size}"
        )
    try:
        info = soundfile.info(str(path))
        audio, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as err:
        raise DataError(f"cannot decode WAV file {path}: {err}") from None
    if info.subtype != "PCM_16" or audio.shape[1] != 1:
        raise DataError(f"{path}: expected mono 16-bit PCM, found {info.channels} channel(s) {info.subtype}")
    return audio[:, 0], rate


def decode_clip(path, desired_samples: int = 16000, sample_rate: int = 16000) -> np.ndarray:
    """int16 [desired_samples]: the clip zero-padded at the end or truncated, as ``tf.audio.decode_wav(…,
    desired_samples)``."""
    audio, rate = read_wav(path)
    if rate != sample_rate:
        raise DataError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz")
    out = np.zeros(desired_samples, dtype=np.int16)
    n = min(desired_samples, audio.shape[0])
    out[:n] = audio[:n]
    return out


def load_clips(root: Path, rel_paths, desired_samples: int = 16000, sample_rate: int = 16000) -> np.ndarray:
    """int16 [n, desired_samples] for ``rel_paths`` under ``root`` (cached in-process and on disk)."""
    rel_paths = list(rel_paths)
    if not rel_paths:
        return np.zeros((0, desired_samples), dtype=np.int16)
    paths = [root / p for p in rel_paths]
    manifest = file_manifest(paths, root)
    keys = [(str(p), m[1], m[2], desired_samples) for p, m in zip(paths, manifest)]
    missing = [i for i, k in enumerate(keys) if k not in _CLIP_MEMO]
    if missing:
        settings = {
            "root": str(root),
            "files": manifest_digest(manifest),
            "n": len(paths),
            "desired_samples": desired_samples,
            "sample_rate": sample_rate,
        }

        def build():
            rows = [_CLIP_MEMO.get(k) for k in keys]
            for i in missing:
                rows[i] = decode_clip(paths[i], desired_samples, sample_rate)
            return {"audio": np.stack(rows)}

        audio = cached("speech-clips", settings, build)["audio"]
        for k, row in zip(keys, audio):
            _CLIP_MEMO[k] = row
    return np.stack([_CLIP_MEMO[k] for k in keys])


def load_background(root: Path, rel_paths, sample_rate: int = 16000) -> list[np.ndarray]:
    """The ``_background_noise_`` recordings as float32 arrays in [−1, 1] (int16/32768, as decode_wav)."""
    out = []
    for rel in rel_paths:
        audio, rate = read_wav(root / rel)
        if rate != sample_rate:
            raise DataError(f"{root / rel}: sample rate {rate} Hz, expected {sample_rate} Hz")
        out.append(audio.astype(np.float32) / 32768.0)
    return out


def has_clips(data_dir) -> bool:
    """True if ``data_dir`` holds at least one ``<word>/*.wav``."""
    root = Path(data_dir)
    return root.is_dir() and any(root.glob("*/*.wav"))


def download_speech_commands(data_dir, url: str, sha256: str | None = SPEECH_COMMANDS_V2_SHA256) -> Path:
    """Download the official tarball into ``data_dir``, verify its SHA-256 and extract it there.

    Offline (or on a checksum mismatch) this raises a DataError that says where to put the files.
    """
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    target = root / url.rsplit("/", 1)[-1]
    hint = (
        f"put the Speech Commands v0.02 files ({LAYOUT_HINT}) in {root}, or point -data_dir / "
        f"$SPEECH_COMMANDS_DIR at a copy"
    )
    if not target.is_file():
        try:
            files.download(url, target)
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise DataError(f"could not download {url} ({err}); {hint}") from None
    digest = _sha256_file(target)
    if sha256 and digest != sha256:
        raise DataError(
            f"{target}: SHA-256 {digest} differs from the official {sha256}; delete it and retry, or {hint}"
        )
    try:
        with tarfile.open(target, "r:gz") as archive:
            archive.extractall(root, filter="data")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"cannot extract {target}: {err}; {hint}") from None
    return root


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
