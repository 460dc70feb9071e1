"""datajuicer: grids of dicts, a template language, and cached, concurrency-safe function runs.

A reimplementation of the experiment engine of the original repository (datajuicer/README.md) with the
same public names; see ``datajuicer/README.md``. It knows nothing about neural networks.
"""

from datajuicer import database, in_out
from datajuicer.cache import NoSessionError, SessionInfo, cachable, current_session
from datajuicer.grid import configure, make_unique, query, reduce_keys, split
from datajuicer.runner import NOMODEL, RunResult, run
from datajuicer.table import Table
from datajuicer.template import NODEFAULT, Literal, TemplateError, TemplateKeyError, format_template, get
from datajuicer.visualizers import latex, visualizer

__all__ = [
    "NODEFAULT",
    "NOMODEL",
    "Literal",
    "NoSessionError",
    "RunResult",
    "SessionInfo",
    "Table",
    "TemplateError",
    "TemplateKeyError",
    "cachable",
    "configure",
    "current_session",
    "database",
    "format_template",
    "get",
    "in_out",
    "latex",
    "make_unique",
    "query",
    "reduce_keys",
    "run",
    "split",
    "visualizer",
]
