"""Fashion-MNIST data (docs/original.md §3.3): IDX reading, Keras-equivalent offline augmentation, the ×3
pool.

Modules: ``fashion_mnist`` (``read_idx``, ``locate``, ``download``, ``load_raw``), ``augment``
(``draw_transforms``, ``transform_images``, ``augment_pool``), ``dataset`` (``FashionMnistDataset``).
"""

# The folder names are the original repository's (CNN/, ECG/, TensorCommands/), kept on purpose.
# ruff: noqa: N999
