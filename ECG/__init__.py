"""MIT-BIH Arrhythmia beat data (docs/original.md §3.2): WFDB reading, the original's extracted
``recordings.npy`` + ``annotations.csv``, the report-era beat table and windowing.

Modules: ``records`` (``read_record``, ``beat_table``, ``download_mitdb``, ``read_recordings``,
``export_recordings``; ``python -m ECG.records -export_recordings=DIR -data_dir=WFDB_DIR``), ``dataset``
(``extract_beats``, ``beat_window``, ``select_beats``, ``split_by_beat``, ``split_by_patient``,
``EcgDataset``).
"""

# The folder names are the original repository's (CNN/, ECG/, TensorCommands/), kept on purpose.
# ruff: noqa: N999
