"""Every ``python`` block of ``datajuicer/README.md`` runs, in order, in one fresh directory; a ``text`` block
right after a ``python`` block is its exact expected output."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def readme_examples() -> list[tuple[str, str | None]]:
    """``[(code, expected output or None)]`` in README order."""
    text = README.read_text(encoding="utf-8")
    blocks = [(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(text)]
    examples = []
    for i, (lang, body, _, end) in enumerate(blocks):
        if lang != "python":
            continue
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        adjacent = nxt is not None and nxt[0] == "text" and text[end : nxt[2]].strip() == ""
        examples.append((body, nxt[1] if adjacent else None))
    return examples


def test_readme_has_checked_examples():
    examples = readme_examples()
    assert len(examples) >= 8 and sum(out is not None for _, out in examples) == len(examples)


def test_readme_examples_print_what_the_readme_says(workdir):
    for number, (code, expected) in enumerate(readme_examples()):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            namespace = {"__name__": f"readme_{number}"}
            exec(compile(code, f"README.md example {number}", "exec"), namespace)  # noqa: S102 - the point of the test
        assert buffer.getvalue() == expected, f"README example {number}:\n{code}"
