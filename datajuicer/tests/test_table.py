r"""``Table``, ``visualizer`` and ``latex`` (README "Tables and LaTeX"; "Differences from the original", item
12).

The golden ``latex`` output below is byte-identical to what the original ``latex`` (newer version) prints
for the same fully populated grid; the missing-cell case shows the fixes (``–`` instead of ``-1``, no
``\bf{-1}`` row for an empty row)."""

import pytest

import datajuicer as dj

GRID = [
    {
        "architecture": arch,
        "beta": beta,
        "mm": mm,
        "mean": 88.75 + beta + mm + (arch == "cnn"),
        "std": 1.25 - beta + mm,
    }
    for arch in ["cnn", "speech_lsnn"]
    for beta in [0.0, 0.25]
    for mm in [0.1, 0.2]
]
LABELS = {"cnn": "CNN", "speech_lsnn": "Speech", "mean": "Mean", "std": "Std", "mm": "Level"}

GOLDEN = r"""\resizebox{\columnwidth}{!}{%
\begin{tabular}{lcllcll}
\toprule
\multicolumn{7}{l}{\bfseries CNN}\\
&& \multicolumn{2}{l}{Standard} && \multicolumn{2}{l}{beta = 0.25} \\\cmidrule(r){3-4}\cmidrule(r){6-7}
Level && Mean & Std && Mean & Std \\
0.1 && 89.85 & 1.35 && \bf{90.10} & \bf{1.10}\\
0.2 && 89.95 & 1.45 && \bf{90.20} & \bf{1.20}\\
\midrule 
\multicolumn{7}{l}{\bfseries Speech}\\
&& \multicolumn{2}{l}{Standard} && \multicolumn{2}{l}{beta = 0.25} \\\cmidrule(r){3-4}\cmidrule(r){6-7}
Level && Mean & Std && Mean & Std \\
0.1 && 88.85 & 1.35 && \bf{89.10} & \bf{1.10}\\
0.2 && 88.95 & 1.45 && \bf{89.20} & \bf{1.20}\\
\bottomrule
\end{tabular}%
}"""


def test_latex_matches_the_original_on_a_full_grid():
    labels = dict(LABELS)
    method = dj.Table.Deviation_Var({"beta": 0.0}, "Method")
    out = dj.latex(
        GRID, ["architecture", method, "mm"], ["mean", "std"], label_dict=labels, bold_order=[max, min]
    )
    assert out == GOLDEN
    assert labels == LABELS  # the caller's label_dict is not mutated


def test_latex_missing_cells_and_no_bold_by_default():
    grid = [
        {"a": "x", "m": "A", "r": 1, "v": 0.5},
        {"a": "x", "m": "B", "r": 1, "v": 0.7},
        {"a": "x", "m": "B", "r": 2, "v": 0.9},
        {"a": "y", "m": "A", "r": 1, "v": 0.1},
    ]
    out = dj.latex(grid, ["a", "m", "r"], ["v"], decimals=3)
    assert "2 && – && 0.900\\\\\n" in out and "-1" not in out and r"\bf{" not in out
    assert "\n1 && 0.100 &  & \\\\\n\\bottomrule" in out  # y has no row 2 at all


def test_table_axes_values_labels_and_dummy():
    table = dj.Table(GRID, ["mm", "architecture"], ["mean"], label_dict=LABELS, dim=4)
    assert table.shape() == [1, 2, 2, 1]
    assert table.independent_keys == ["__axis0__", "mm", "architecture"]
    assert table.get_label(0) == "" and table.get_label(0, 0) == ""  # the dummy label does not leak
    assert (
        table.get_label(1) == "Level"
        and table.get_label(2, 1) == "Speech"
        and table.get_label(3, 0) == "Mean"
    )
    assert table.get_val(0, 1, 0, 0) == [pytest.approx(89.95), pytest.approx(90.2)]  # cnn, mm=0.2: two betas
    assert dj.Table(GRID, ["mm"], ["nope"]).get_val(0, 0) is None


def test_product_var_merges_leading_axes_when_dim_is_small():
    table = dj.Table(GRID, ["architecture", "beta", "mm"], ["std"], label_dict=LABELS, dim=3)
    assert table.shape() == [4, 2, 1]
    assert table.get_label(0, 1) == "architecture = cnn, beta = 0.25"
    assert table.get_val(1, 0, 0) == [pytest.approx(1.1)]


def test_order_dict_by_label_and_list_permutations():
    table = dj.Table(
        GRID, ["architecture", "mm"], ["mean"], label_dict=LABELS, order={"architecture": ["Speech"]}
    )
    assert table.order["architecture"] == ["speech_lsnn", "cnn"]
    flipped = dj.Table(GRID, ["architecture", "mm"], ["mean"], order=[None, [1, 0]])
    assert flipped.order["mm"] == [0.2, 0.1]
    with pytest.raises(KeyError, match="not an independent key"):
        dj.Table(GRID, ["mm"], ["mean"], order={"zzz": [1]})


def test_mixed_type_axis_values_sort():
    table = dj.Table(
        [{"k": None, "v": 1}, {"k": 2, "v": 2}, {"k": "a", "v": 3}, {"k": 1, "v": 4}], ["k"], ["v"]
    )
    assert table.order["k"] == [None, 1, 2, "a"]


def test_visualizer_builds_the_table():
    @dj.visualizer(dim=2)
    def count_cells(table, scale=1):
        return table.shape()[0] * scale

    assert count_cells(GRID, ["architecture", "mm"], ["mean"], scale=10) == 40  # 2×2 merged into one axis
