"""The chip-measurement figure ``figure_mismatch`` (``plot.make_figure``); folder name kept from the original."""
# ruff: noqa: N999  (the CamelCase package name is the original repository's folder name)
