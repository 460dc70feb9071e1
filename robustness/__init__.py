"""Robust training of spiking and convolutional networks against parameter mismatch.

Re-implementation of "Adversarial Training yields Robustness to Component Mismatch" (Büchel, Faber,
Fabre; ETH Zürich 2020). Modules: ``lsnn`` and ``cnn`` (models), ``losses``, ``attack`` (θ* search and
the robust loss), ``mismatch`` (θ(1+σN) evaluation), ``configs`` (flags and defaults), ``training``.
"""
