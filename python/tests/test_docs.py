"""The Python snippets of docs/python.md run as written (they need a GPU)."""
import os
import re

import pytest

torch = pytest.importorskip("torch")
DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "python.md")


def snippets():
    with open(DOC) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_the_page_has_snippets():
    assert len(snippets()) >= 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("i", range(len(snippets())))
def test_snippet_runs(i):
    exec(compile(snippets()[i], f"docs/python.md snippet {i}", "exec"), {})
