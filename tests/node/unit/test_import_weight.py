"""What each entry point loads. `import verinfer` and the dApp's usual imports must not drag in the ML runtimes, ZK,
the demo's training library or the node service: each runs in a fresh interpreter, and sys.modules tells."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Module roots that only some commands need; a light entry point loads none of them.
HEAVY = ("onnxruntime", "onnx", "ezkl", "sklearn", "verinfer.node", "structlog", "prometheus_client", "matplotlib")


def loaded_after(code: str) -> set[str]:
    """The heavy modules (roots or their submodules) present in sys.modules after running `code` in a fresh python."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(h for h in heavy if any(m == h or m.startswith(h + '.') for m in sys.modules))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_verinfer_loads_no_third_party_module() -> None:
    probe = (
        "import sys; before = set(sys.modules); import verinfer; "
        "print(sorted(m for m in set(sys.modules) - before "
        "if m.split('.')[0] not in sys.stdlib_module_names and not m.startswith('verinfer')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", "import verinfer loaded these modules: " + done.stdout


@pytest.mark.parametrize(
    "code",
    [
        "import verinfer",
        "from verinfer import Client, verify",
        "from verinfer import Operator, InferenceResult, VerificationReport, ContractRevert, ModelId",
        "import verinfer.sdk",
        "import verinfer.cli",
    ],
)
def test_light_entry_points_load_no_heavy_module(code: str) -> None:
    assert loaded_after(code) == set()


def test_the_probe_sees_a_heavy_import() -> None:
    # The check above could pass by looking in the wrong place; the node service does load the runtime.
    assert {"onnxruntime", "verinfer.node"} <= loaded_after("import verinfer.node.service")
