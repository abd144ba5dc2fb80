"""Every ``>>>`` example in the library runs, or says it does not (``# doctest: +SKIP``).

One test per module of ``src/convtrain``: the examples a student or maintainer copies
from a docstring must work as printed. An example is found only inside a docstring
(a ``>>>`` in a comment or an ordinary string would be read but never run), so each
module's count of ``>>>`` lines must equal the number of examples doctest found.
"""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "convtrain"
MODULES = sorted(
    ".".join(("convtrain", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
    for path in PACKAGE.rglob("*.py"))
PROMPT = re.compile(r"^\s*>>> ", re.MULTILINE)


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name, monkeypatch):
    monkeypatch.setenv("CONVTRAIN_PROFILE", "fast")
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    found = sum(len(test.examples) for test in tests if test.filename == module.__file__)
    written = len(PROMPT.findall(Path(module.__file__).read_text()))
    assert found == written, (
        f"{name} has {written} '>>> ' lines but only {found} examples doctest can run: an "
        "example outside a docstring is never checked. Put it in a docstring or drop the prompt.")
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
