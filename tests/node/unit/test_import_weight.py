"""What each entry point loads. `import verinfer` and the dApp's usual imports must not drag in the ML runtimes, ZK,
the demo's training library or the node service: each runs in a fresh interpreter, and sys.modules tells."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from verinfer.chain.anvil import free_port

# Module roots that only some commands need; a light entry point loads none of them.
HEAVY = (
    "onnxruntime",
    "onnx",
    "ezkl",
    "sklearn",
    "verinfer.node",
    "structlog",
    "prometheus_client",
    "matplotlib",
    "verinfer.text",
    "tokenizers",
    "onnxruntime_genai",
)


# Prints the heavy modules (roots or their submodules) in sys.modules, as the last line of stderr.
REPORT = (
    "import json, sys\n"
    f"heavy = {HEAVY!r}\n"
    "sys.stderr.write('\\nHEAVY ' + json.dumps(sorted("
    "h for h in heavy if any(m == h or m.startswith(h + '.') for m in sys.modules))) + '\\n')\n"
)


def _heavy_in(stderr: str) -> set[str]:
    lines = [line for line in stderr.splitlines() if line.startswith("HEAVY ")]
    assert lines, f"the probe did not report: {stderr[-2000:]}"
    return set(json.loads(lines[-1].removeprefix("HEAVY ")))


def loaded_after(code: str) -> set[str]:
    """The heavy modules loaded after running `code` in a fresh python."""
    done = subprocess.run(
        [sys.executable, "-c", code + "\n" + REPORT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return _heavy_in(done.stderr)


def loaded_by_command(args: list[str], env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    """Runs `verinfer ARGS` in a fresh python as the console script would; returns its exit code and the heavy
    modules it had loaded when it finished (whether it succeeded or not)."""
    probe = "import sys\nfrom verinfer.cli import app\ntry:\n    app(sys.argv[1:], prog_name='verinfer')\nfinally:\n"
    probe += "".join(f"    {line}\n" for line in REPORT.splitlines())
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    return done.returncode, _heavy_in(done.stderr)


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


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["node", "--help"],
        ["devnet", "up", "--help"],
        ["model", "register", "--help"],
        ["result", "--help"],
        ["admin", "--help"],
    ],
)
def test_help_loads_no_heavy_module(args: list[str]) -> None:
    code, loaded = loaded_by_command(args)
    assert code == 0
    assert loaded == set()


@pytest.mark.parametrize(
    "args",
    [["result", "1"], ["model", "list"], ["request", "0x" + "11" * 32, "--input", "[1]"], ["admin", "pending"]],
)
def test_chain_commands_load_no_ml_runtime(args: list[str]) -> None:
    # Nothing answers at this port: the command gets as far as connecting (web3 and the SDK loaded) and exits 1.
    key = "0x" + "22" * 32
    code, loaded = loaded_by_command([*args, "--rpc-url", f"http://127.0.0.1:{free_port()}", "--private-key", key])
    assert code == 1
    assert loaded == set()


def test_the_probe_sees_a_heavy_import() -> None:
    # The check above could pass by looking in the wrong place; the node service does load the runtime.
    assert {"onnxruntime", "verinfer.node"} <= loaded_after("import verinfer.node.service")
