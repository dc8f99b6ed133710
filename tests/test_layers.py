"""The import rules of ``docs/design.md``: each layer imports only itself and the layers below it,
and the layers below the Lightning-facing ones import no Lightning. Parsed from the source (every
``import`` statement, also those inside functions), so no module needs to be importable."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

_PACKAGE = Path(__file__).resolve().parents[1] / "lightning_spectral"

# Layer of each top-level part of the package, lowest first (docs/design.md, "Layers").
LAYERS = {
    "functional": 0,
    "kernels": 1,
    "nn": 2,
    "transforms": 3,
    "plans_io": 4,
    "_lightning_compat": 5,
    "checkpoint": 5,
    "callbacks": 6,
    "data": 6,
    "models": 6,
    "sweep": 7,
    "cli": 8,
    "__main__": 9,
}
# Layers that must work without Lightning installed or imported.
LIGHTNING_FREE = {"functional", "kernels", "nn", "transforms", "plans_io"}
_LIGHTNING = {"pytorch_lightning", "lightning", "lightning_fabric"}


def _part(path: Path) -> str:
    relative = path.relative_to(_PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lightning_spectral":  # `from lightning_spectral import x`
                found += [(node.lineno, f"lightning_spectral.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


_SOURCES = sorted(
    p for p in _PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != _PACKAGE
)


def test_every_part_of_the_package_has_a_layer():
    assert {_part(p) for p in _SOURCES} == set(LAYERS)


@pytest.mark.parametrize("path", _SOURCES, ids=lambda p: str(p.relative_to(_PACKAGE)))
def test_imports_follow_the_layers(path):
    part = _part(path)
    problems = []
    for line, module in _imports(path):
        top = module.split(".")[0]
        if top in _LIGHTNING and part in LIGHTNING_FREE:
            problems.append(f"line {line}: {module} (the {part} layer imports no Lightning)")
        if top != "lightning_spectral" or module.count(".") == 0:
            continue
        target = module.split(".")[1]
        if target == "__version__":
            continue  # the root package's version string, importable from anywhere
        if target not in LAYERS:
            problems.append(f"line {line}: {module} is not a part of the package")
        elif LAYERS[target] > LAYERS[part]:
            problems.append(
                f"line {line}: {module} (layer {LAYERS[target]}) is above {part} "
                f"(layer {LAYERS[part]})"
            )
    assert not problems, "\n".join(problems)


# The one file that imports Lightning by name; everything else goes through it (it holds the
# bases of both namespaces, see docs/design.md).
_DIRECT_LIGHTNING = {"_lightning_compat.py"}


def test_lightning_is_named_only_in_the_compat_module():
    direct = {
        str(path.relative_to(_PACKAGE))
        for path in _SOURCES
        if any(module.split(".")[0] in _LIGHTNING for _, module in _imports(path))
    }
    assert direct <= _DIRECT_LIGHTNING, sorted(direct - _DIRECT_LIGHTNING)
