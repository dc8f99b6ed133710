"""Write ``.ci/constraints.txt``: the exact versions of everything the project pulls in.

The file is ``pip freeze`` of the tested environment restricted to the project's dependency
closure: the requirements of ``pyproject.toml`` with every extra, followed recursively through the
installed distributions' metadata, with environment markers evaluated for this machine. Run it
after upgrading the environment and running the suite:

    python .ci/freeze_constraints.py            # rewrite .ci/constraints.txt
    python .ci/freeze_constraints.py --check    # exit 1 if the file is out of date
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, as pytest's dependency
    import tomli as tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / ".ci" / "constraints.txt"
HEADER = """\
# Exact versions CI installs and tests (.ci/run exports PIP_CONSTRAINT=.ci/constraints.txt).
# The dependency closure of lightning-spectral[dev,data,lightning,export] on Linux x86-64,
# Python {python}; regenerate with `python .ci/freeze_constraints.py` after an upgrade.
"""


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})


def closure() -> dict[str, str]:
    """``{distribution name: installed version}`` of the project's dependency closure.

    Raises:
        metadata.PackageNotFoundError: If a required distribution is not installed.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    own = canonicalize_name(project["name"])
    texts = list(project["dependencies"])
    for requirements in project["optional-dependencies"].values():
        texts.extend(requirements)
    # Markers are evaluated when a requirement is queued, with the extras its parent asked for.
    pending = [r for r in map(Requirement, texts) if _applies(r, set())]
    pinned: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if name == own or key in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(requirement.name)
        pinned[name] = dist.version
        for text in dist.requires or ():
            child = Requirement(text)
            if _applies(child, set(requirement.extras)):
                pending.append(child)
    return dict(sorted(pinned.items()))


def render() -> str:
    """Text of the constraints file for the current environment."""
    python = ".".join(map(str, sys.version_info[:2]))
    lines = [f"{name}=={version}" for name, version in closure().items()]
    return HEADER.format(python=python) + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with ``--check`` compare) ``.ci/constraints.txt``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if CONSTRAINTS.read_text() != text:
            print(f"{CONSTRAINTS} is out of date; run python .ci/freeze_constraints.py")
            return 1
        return 0
    CONSTRAINTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
