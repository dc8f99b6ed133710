"""Every number in the tables of the experiment pages is in the experiment's JSON.

A page ``docs/experiments/<name>.md`` shows ``experiments/results/<name>.json`` (the concepts
page shows ``operator_difference.json``). Each number printed in a table row (not the header)
must equal, at the precision printed, some number recorded in that JSON, either as is or as a
percentage, a size in MiB of a byte count, or the ``1/n`` of a fraction. A table of settings
rather than results is marked by a ``<!-- settings table -->`` line just above it and skipped.
Derived figures (means, spreads, ranges) are therefore written into the JSON by the
scripts, not computed by hand for the page.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
PAGES = {
    **{
        page: RESULTS / f"{page.stem}.json" for page in (ROOT / "docs" / "experiments").glob("*.md")
    },
    ROOT / "docs" / "concepts.md": RESULTS / "operator_difference.json",
}
NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?![\w.])|(?<![\w.,])\d+(?:\.\d+)?(?![\w.])")
SETTINGS = "<!-- settings table -->"


def _leaves(value: object) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


def table_numbers(text: str) -> list[tuple[int, str]]:
    """``(line number, token)`` of every number in the body rows of the page's tables."""
    found, header_next, skip, previous = [], True, False, ""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("|"):
            header_next, skip, previous = True, False, line
            continue
        if header_next and previous.strip() == SETTINGS:
            skip = True
        if skip:
            header_next = False
            continue
        if header_next or set(line.replace("|", "").strip()) <= set("-: "):
            header_next = False  # the header row and the separator carry no results
            continue
        # Sizes such as 3x3 or 34x34 are settings, compared like any other number.
        cells = line.replace("x", " ")
        found += [(number, token.replace(",", "")) for token in NUMBER.findall(cells)]
    return found


def matches(token: str, values: list[float]) -> bool:
    decimals = len(token.partition(".")[2])
    target, half = float(token), 0.5 * 10.0**-decimals + 1e-9
    return any(
        abs(candidate - target) <= half
        for v in values
        if math.isfinite(v)
        for candidate in (v, 100.0 * v, v / 2**20, 1.0 / v if 0 < v <= 1 else v)
    )


def test_number_extraction():
    text = "| a | b |\n|---|---|\n| 3x3 | 1.28 ± 0.24 (0.9-2.3) |\n\n| c |\n|---|\n| 7 |\n"
    assert [t for _, t in table_numbers(text)] == ["3", "3", "1.28", "0.24", "0.9", "2.3", "7"]
    assert matches("1.28", [1.2849]) and not matches("1.28", [1.2749, 1.2851])
    assert matches("85.0", [0.85]) and not matches("86", [0.85])
    assert matches("64", [1 / 64]) and matches("45.7", [45.7 * 2**20])
    assert [t for _, t in table_numbers("| h |\n|---|\n| 3,600 train |\n")] == ["3600"]
    assert table_numbers(f"{SETTINGS}\n| h |\n|---|\n| 3 |\n") == []


@pytest.mark.parametrize("page", sorted(PAGES), ids=lambda p: p.stem)
def test_every_table_number_is_in_the_json(page: Path):
    data = PAGES[page]
    tokens = table_numbers(page.read_text())
    if not tokens:
        pytest.skip(f"{page.name} has no tables")
    assert data.exists(), f"{page.name} has tables but {data.name} does not exist"
    values = _leaves(json.loads(data.read_text()))
    missing = [f"line {n}: {token}" for n, token in tokens if not matches(token, values)]
    assert not missing, f"{page.relative_to(ROOT)} shows numbers absent from {data.name}: {missing}"
