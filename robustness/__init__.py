"""Robust training of spiking and convolutional networks against parameter mismatch.

Re-implementation of "Adversarial Training yields Robustness to Component Mismatch" (Büchel, Faber,
Fabre; ETH Zürich 2020). Layers, each importing only from those before it (README "Layout"): ``paths``,
``files``, ``stats``; the models and the attack (``surrogate``, ``lsnn``, ``cnn``, ``losses``, ``attack``,
``mismatch``, ``schedule``); ``configs``; the data layer ``datasets``; one module per task in ``tasks``
(the registry); ``data``, ``evaluation``, ``artifacts``, ``training``; ``profiles``, ``launch``, ``jobs``,
``experiments``; and the figures (``cached_evaluation``, ``reductions``, ``plotting``, ``figure_files``,
``figures``).
"""
