"""Speech Commands keyword spotting data (docs/original.md §3.1): hash split, silence/unknown index, TF-exact
MFCCs.

Modules: ``index`` (``which_set``, ``scan_dataset``, ``build_index``), ``audio`` (WAV decoding, clip cache,
downloader), ``features`` (``mfcc`` and its TF matrices), ``dataset`` (``SpeechDataset``).
"""

# The folder names are the original repository's (CNN/, ECG/, TensorCommands/), kept on purpose.
# ruff: noqa: N999
