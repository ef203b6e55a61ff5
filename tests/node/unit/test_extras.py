"""A part used without its extra says which extra to install, in one line, before it starts anything."""

from __future__ import annotations

import subprocess
import sys

import pytest

from verinfer.errors import ConfigError, MissingExtraError, require_modules, requires_extra


def run_cli_without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`verinfer ARGS` in a fresh python in which `module` cannot be imported (as if its extra were not installed)."""
    probe = (
        f"import sys\nsys.modules[{module!r}] = None\n"
        "from verinfer.cli import app\napp(sys.argv[1:], prog_name='verinfer')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_node_run_without_the_node_extra() -> None:
    done = run_cli_without("structlog", "node", "run", "--config", "/nonexistent/node.toml")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: verinfer node run needs structlog, which is not installed: pip install 'verinfer[node]'"
    )


def test_devnet_up_without_the_demo_extra_starts_nothing() -> None:
    done = run_cli_without("sklearn", "devnet", "up", "--nodes", "0", "--json")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: verinfer devnet up needs sklearn, which is not installed: pip install 'verinfer[demo]'"
    )
    assert done.stdout == ""


def test_requires_extra_names_the_extra() -> None:
    message = r"^ZK needs ezkl_missing, .*pip install 'verinfer\[zk\]'$"
    with pytest.raises(MissingExtraError, match=message) as caught, requires_extra("ZK", "zk"):
        import ezkl_missing  # type: ignore[import-not-found]  # noqa: F401
    assert isinstance(caught.value, ConfigError)
    assert (caught.value.extra, caught.value.module) == ("zk", "ezkl_missing")


def test_a_missing_verinfer_module_is_a_bug_not_an_extra() -> None:
    with pytest.raises(ModuleNotFoundError, match=r"verinfer\.no_such_module"), requires_extra("x", "zk"):
        import verinfer.no_such_module  # type: ignore[import-not-found]  # noqa: F401


def test_require_modules_looks_without_importing() -> None:
    require_modules("the tests", "dev", "json", "pytest")
    with pytest.raises(MissingExtraError, match=r"needs not_installed_anywhere, which is not installed"):
        require_modules("the tests", "dev", "json", "not_installed_anywhere")
