"""The documentation: strict site build, README commands and tour, examples in the pages.

* ``mkdocs build --strict`` succeeds (broken links, anchors, missing pages and docstring problems
  fail it) and every public name of the package is rendered in the API reference;
* every page under ``docs/`` is reachable from the nav;
* the README's two set-up commands are present verbatim, and the second is what CI runs;
* the README's Python tour and the transforms page's example run, and every callback
  configuration shown in YAML is accepted by the command line's parser;
* ``docs/figures/make_tensorboard_plot.py`` turns the monitor's event files into a PNG.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import re
import subprocess
import sys
import textwrap
import zlib
from importlib.metadata import metadata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"

#: The README's two commands, exactly as a user copies them.
RUN_COMMAND = (
    'pip install -e ".[data]" && lightning-spectral fit --config '
    "examples/configs/mnist_bandlimited.yaml"
)
TEST_COMMAND = 'python -m pip install -e ".[dev,data]" && python -m pytest'


def code_blocks(path: Path, language: str) -> list[str]:
    """Bodies of the fenced ``language`` code blocks of a markdown file, in order.

    Fences may be indented (content tabs); the body is dedented by the fence's indentation.
    """
    pattern = re.compile(
        rf"^(?P<indent>[ ]*)```{language}\n(?P<body>.*?)^(?P=indent)```", re.MULTILINE | re.DOTALL
    )
    return [textwrap.dedent(m["body"]) for m in pattern.finditer(path.read_text())]


def nav_files(nav: list) -> list[str]:
    """Markdown files named anywhere in a mkdocs ``nav`` tree."""
    files = []
    for item in nav:
        entries = item.values() if isinstance(item, dict) else [item]
        for entry in entries:
            if isinstance(entry, list):
                files.extend(nav_files(entry))
            elif isinstance(entry, str) and entry.endswith(".md"):
                files.append(entry)
    return files


# ---------------------------------------------------------------------------------------------
# The site
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-6000:]}"
    return out


def test_strict_build_writes_every_page(site):
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["strict"] is True
    for page in nav_files(config["nav"]):
        stem = page[: -len(".md")]
        built = site / (stem + ".html" if Path(stem).name == "index" else stem + "/index.html")
        assert built.is_file(), f"{page} was not built"
        # Sphinx roles in docstrings are rendered as code (docs/extensions/sphinx_roles.py).
        roles = re.findall(r":(?:class|func|meth|mod|attr|exc):(?:`|<code>)", built.read_text())
        assert not roles, f"{page} shows raw Sphinx roles: {roles[:3]}"


def test_every_docs_page_is_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = nav_files(config["nav"])
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(set(listed)) == sorted(listed), "a page is listed twice in the nav"
    missing = [page for page in pages if page not in listed]
    assert not missing, f"pages not reachable from the nav in mkdocs.yml: {missing}"


def _inventory(site: Path) -> set[str]:
    """Object paths in the site's ``objects.inv`` (what mkdocstrings rendered)."""
    data = (site / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):  # four text header lines, then the zlib-compressed body
        header_end = data.index(b"\n", header_end) + 1
    body = zlib.decompress(data[header_end:]).decode()
    return {line.split(" ", 1)[0] for line in body.splitlines() if line.strip()}


def _public_modules() -> list[str]:
    import lightning_spectral

    names = ["lightning_spectral"]
    for info in pkgutil.walk_packages(lightning_spectral.__path__, "lightning_spectral."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def test_every_public_name_is_in_the_api_reference(site):
    rendered = _inventory(site)
    missing = []
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            if name.startswith("__"):
                continue
            value = getattr(module, name)
            paths = {f"{module_name}.{name}"}
            if hasattr(value, "__qualname__") and hasattr(value, "__module__"):
                paths.add(f"{value.__module__}.{value.__qualname__}")  # where it is defined
            if not paths & rendered:
                missing.append(f"{module_name}.{name}")
    assert not missing, (
        "public names (in __all__) missing from the API reference; add them to a `:::` "
        f"directive in docs/: {missing}"
    )


# ---------------------------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------------------------


def test_readme_has_the_two_commands_and_ci_runs_the_second():
    commands = [block.strip() for block in code_blocks(README, "bash")]
    assert RUN_COMMAND in commands
    assert TEST_COMMAND in commands
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert TEST_COMMAND in ci, ".ci/run must run the README's test command verbatim"
    # What the commands name exists: the extras and the example configuration.
    assert {"data", "dev"} <= set(metadata("lightning-spectral").get_all("Provides-Extra"))
    assert (ROOT / "examples" / "configs" / "mnist_bandlimited.yaml").is_file()
    assert (ROOT / "docs" / "figures" / "tensorboard_curves.png").is_file()


@pytest.fixture
def quick_trainer(monkeypatch, tmp_path):
    """``pl.Trainer`` capped to a couple of batches, writing under ``tmp_path``."""
    import pytorch_lightning as pl

    class QuickTrainer(pl.Trainer):
        def __init__(self, *args, **kwargs):
            kwargs.update(
                max_epochs=1,
                limit_train_batches=2,
                limit_val_batches=1,
                enable_progress_bar=False,
                enable_model_summary=False,
                default_root_dir=str(tmp_path),
            )
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pl, "Trainer", QuickTrainer)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_readme_tour_runs(quick_trainer):
    lightning_tour, transforms_tour = code_blocks(README, "python")
    namespace: dict = {}
    exec(compile(lightning_tour, "README tour (Lightning)", "exec"), namespace)
    best = namespace["best"]
    assert not best.training
    converted = [type(m).__name__ for m in best.network.modules()]
    assert converted.count("BandLimitedConv2d") == 2
    assert list(quick_trainer.glob("lightning_logs/version_0/events.out.tfevents.*"))

    namespace = {}
    exec(compile(transforms_tour, "README tour (transforms)", "exec"), namespace)
    layers = [type(m).__name__ for m in namespace["net"].features]
    assert layers[0] == "ParametrizedConv2d"  # excluded from band-limiting, still parametrized
    assert layers[3] == "ParametrizedBandLimitedConv2d"
    assert layers[2] == layers[5] == "SpectralPool2d"


def test_transforms_page_example_runs():
    example = code_blocks(DOCS / "transforms.md", "python")[0]
    namespace: dict = {}
    exec(compile(example, "docs/transforms.md example", "exec"), namespace)
    net, fresh = namespace["net"], namespace["fresh"]
    net.eval()
    fresh.eval()
    x = namespace["torch"].randn(2, 3, 32, 32)
    namespace["torch"].testing.assert_close(fresh(x), net(x))  # baked + replanned == trained


# ---------------------------------------------------------------------------------------------
# YAML shown in the docs
# ---------------------------------------------------------------------------------------------


def _documented_callbacks() -> list[tuple[str, dict]]:
    """Every callback entry of every YAML block in the docs, with the page it comes from."""
    entries = []
    for page in sorted(DOCS.rglob("*.md")):
        for block in code_blocks(page, "yaml"):
            data = yaml.safe_load(block)
            if isinstance(data, dict):
                data = (data.get("trainer") or {}).get("callbacks", [])
            for entry in data or []:
                entries.append((str(page.relative_to(DOCS)), entry))
    return entries


def test_documented_callback_yaml_is_accepted_by_the_cli_parser():
    import pytorch_lightning as pl
    from jsonargparse import ArgumentParser

    import lightning_spectral.callbacks  # noqa: F401  (short names resolve once imported)

    entries = _documented_callbacks()
    assert len(entries) >= 10
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--callbacks", type=list[pl.Callback])
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    for page, entry in entries:
        try:
            config = parser.parse_object({"callbacks": [entry]})
            (callback,) = instantiate(config).callbacks
        except Exception as error:  # report the page and the entry
            raise AssertionError(f"{page}: {entry!r} is refused: {error}") from error
        assert type(callback).__name__ == entry["class_path"].rsplit(".", 1)[-1]


# ---------------------------------------------------------------------------------------------
# The README figure's script
# ---------------------------------------------------------------------------------------------


def _plot_module():
    path = DOCS / "figures" / "make_tensorboard_plot.py"
    spec = importlib.util.spec_from_file_location("make_tensorboard_plot", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tensorboard_plot_from_event_files(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    plot = _plot_module()
    run = tmp_path / "lightning_logs" / "version_3"
    with SummaryWriter(str(run)) as writer:
        for step in (10, 20, 30):
            for layer in ("net.0", "net.3"):
                for quantity in ("train_compression", "eval_compression", "input_energy"):
                    writer.add_scalar(f"spectral/{layer}/{quantity}", 0.5, step)
            writer.add_scalar("val_acc", 0.9, step)
    (tmp_path / "lightning_logs" / "version_1").mkdir()
    assert plot.latest_run(tmp_path / "lightning_logs") == run
    scalars = plot.read_scalars(run)
    assert scalars["spectral/net.3/input_energy"] == [(10, 0.5), (20, 0.5), (30, 0.5)]
    output = plot.plot_run(run, tmp_path / "curves.png")
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    empty = tmp_path / "no_monitor"
    with SummaryWriter(str(empty)) as writer:
        writer.add_scalar("val_acc", 0.9, 1)
    with pytest.raises(ValueError, match="EnergyCompressionMonitor"):
        plot.plot_run(empty, tmp_path / "none.png")
