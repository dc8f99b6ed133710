"""Assertions shared by the tests."""

from __future__ import annotations

import re
from typing import Any

import pytest


def raises_naming(error: type[Exception], bad: object) -> Any:
    """``pytest.raises(error)`` that also checks the message names the bad value (its repr)."""
    return pytest.raises(error, match=re.escape(repr(bad)))
