"""The `verinfer` command line: parse, call the SDK, print (Rich for people, `--json` for machines).

Start-up is part of the interface: this module imports only typer and the base layer (errors, types, version), and
each command imports what it uses inside its function, so `verinfer --help` loads no web3 and a chain read such as
`verinfer result` loads no ONNX runtime. `tests/node/unit/test_import_weight.py` pins it; `bench/startup.py` times it.
"""

from __future__ import annotations

import csv
import enum
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from verinfer._version import __version__
from verinfer.cli_admin import admin_app
from verinfer.cli_common import bytes32, console, echo_json, errors, hex_, logs_to_stderr
from verinfer.cli_node import REVERT_FIXES, ConfigPath, devnet_app, node_app
from verinfer.errors import ChainError, ConfigError, require_modules, requires_extra
from verinfer.types import (
    ARITHMETIC_CLASSES,
    MAX_MODEL_BYTES,
    DeployConfig,
    HubParams,
    Mode,
    ModelProvenance,
    ModelSpec,
    ModelTerms,
    arithmetic_classes_mask,
)

if TYPE_CHECKING:
    from rich.text import Text

    from verinfer.inference.check import ModelCheck, Problem
    from verinfer.sdk.client import Assignment, Client, InferenceResult, RequestHandle
    from verinfer.sdk.disputes import Dispute, Finality
    from verinfer.sdk.verify import VerificationReport

app = typer.Typer(help="Verifiable AI inference on EVM chains.", no_args_is_help=True)
model_app = typer.Typer(help="Register and inspect models.", no_args_is_help=True)
env_app = typer.Typer(help="This machine's inference environment.", no_args_is_help=True)
app.add_typer(model_app, name="model")
app.add_typer(env_app, name="env")
app.add_typer(node_app, name="node")
app.add_typer(devnet_app, name="devnet")
app.add_typer(admin_app, name="admin")

RpcUrl = Annotated[str, typer.Option(envvar="VERINFER_RPC_URL", help="JSON-RPC endpoint.")]
DEFAULT_RPC = "http://127.0.0.1:8545"
PrivateKey = Annotated[
    str, typer.Option(envvar="VERINFER_PRIVATE_KEY", help="Sending key (devnets only: chain id 31337 or 1337).")
]
ReadKey = Annotated[
    str | None,
    typer.Option(
        envvar="VERINFER_PRIVATE_KEY", help="Account to read as (devnets only); a throwaway one when not given."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (shape in the command's help) instead of tables.")]
InputSample = Annotated[
    Path | None,
    typer.Option(
        help="Typical input rows for the fidelity report: CSV (a header row allowed) or a JSON array of rows."
    ),
]


class ModeName(enum.StrEnum):
    """`Mode` as the command line spells it."""

    single = "single"
    consensus = "consensus"
    zk = "zk"

    def mode(self) -> Mode:
        return Mode[self.name.upper()]


def _cell(value: object) -> Text:
    """A table cell: lists and booleans as JSON, the rest as `str`; plain text, never read as Rich markup."""
    from rich.text import Text

    return Text(json.dumps(value) if isinstance(value, list | bool) else str(value))


def _client(rpc_url: str, private_key: str | None) -> Client:
    from eth_account import Account

    from verinfer.sdk.client import Client

    # Reads need no funds: without a key, a fresh account reads as well as any.
    return Client.connect(rpc_url, private_key or Account.create().key.to_0x_hex())


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Verifiable AI inference on EVM chains."""


@app.command("deploy")
def deploy_command(
    private_key: Annotated[
        str, typer.Option(envvar="VERINFER_PRIVATE_KEY", help="Deployer key (devnets only: chain id 31337 or 1337).")
    ],
    rpc_url: Annotated[str, typer.Option(envvar="VERINFER_RPC_URL", help="JSON-RPC endpoint.")] = (
        "http://127.0.0.1:8545"
    ),
    min_stake: Annotated[int, typer.Option(help="Minimum node stake in wei.")] = DeployConfig.min_stake,
    unbonding_delay: Annotated[int, typer.Option(help="Unbonding delay in seconds.")] = DeployConfig.unbonding_delay,
    reveal_window: Annotated[int, typer.Option(help="Consensus reveal window in seconds.")] = HubParams.reveal_window,
    timelock_delay: Annotated[
        int | None,
        typer.Option(
            help="Seconds every later owner action waits in the Timelock (default 5 on a devnet, 2 days else)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where to write the deployment (default deployments/<chainId>.json).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the deployment as JSON.")] = False,
) -> None:
    """Deploy ModelRegistry, NodeRegistry and InferenceHub, wire them, hand them to a Timelock, record the addresses."""
    from rich.table import Table

    from verinfer.chain.deploy import deploy_to, to_json

    config = DeployConfig(
        min_stake=min_stake,
        unbonding_delay=unbonding_delay,
        hub_params=HubParams(reveal_window=reveal_window),
        timelock_delay=timelock_delay,
    )
    with errors():
        deployment, path = deploy_to(rpc_url, private_key, config, out)
    if as_json:
        echo_json(to_json(deployment))
        return
    table = Table(title=f"Deployed on chain {deployment.chain_id}")
    table.add_column("contract")
    table.add_column("address")
    table.add_column("block", justify="right")
    for name, contract in (
        ("ModelRegistry", deployment.model_registry),
        ("NodeRegistry", deployment.node_registry),
        ("InferenceHub", deployment.hub),
    ):
        table.add_row(name, contract.address, str(contract.block))
    if deployment.timelock is not None:
        table.add_row(
            f"Timelock ({deployment.timelock_delay}s, owns all three)",
            deployment.timelock.address,
            str(deployment.timelock.block),
        )
    console().print(table)
    console().print(f"written to {path}")


# ---------------------------------------------------------------------------------------------------------------------
# verinfer env
# ---------------------------------------------------------------------------------------------------------------------


@env_app.command("show")
def env_show_command(
    threads: Annotated[int, typer.Option(help="Intra-op threads, as the node would run.")] = 1,
    opt_level: Annotated[str, typer.Option(help="Graph optimisation level: disabled, basic, extended, all.")] = "basic",
    as_json: AsJson = False,
) -> None:
    """Print this machine's environment manifest and its hash (the envHash a node posts on chain).

    JSON: {"manifest": {<key>: <value>, ...}, "hash": "0x<keccak256 of its canonical JSON>"}
    """
    from rich.table import Table

    from verinfer.inference.manifest import environment_manifest, manifest_hash

    with errors():
        document = environment_manifest(threads, opt_level)
    env_hash = hex_(manifest_hash(document))
    if as_json:
        echo_json({"manifest": document, "hash": env_hash})
        return
    table = Table(title="Environment manifest")
    table.add_column("key")
    table.add_column("value", overflow="fold")
    for key in sorted(document):
        table.add_row(key, _cell(document[key]))
    console().print(table)
    typer.echo(f"hash {env_hash}")


# ---------------------------------------------------------------------------------------------------------------------
# verinfer model
# ---------------------------------------------------------------------------------------------------------------------


def _modes(mask: int) -> list[str]:
    return [mode.name.lower() for mode in Mode if mask & (1 << int(mode))]


def _spec_json(spec: ModelSpec) -> dict[str, Any]:
    return {
        "uri": spec.uri,
        "inputShape": list(spec.input_shape),
        "outputShape": list(spec.output_shape),
        "scale": spec.scale,
        "price": str(spec.price),
        "modes": _modes(spec.modes),
        "allowedEnvironments": [hex_(env) for env in spec.allowed_environments],
        "challengeWindow": spec.challenge_window,
        "stakeAtRisk": str(spec.stake_at_risk),
        "arithmeticClasses": [name for i, name in ARITHMETIC_CLASSES.items() if spec.arithmetic_classes >> i & 1],
        "verifier": spec.verifier,
        "card": _card_json(spec.card),
    }


def _card_json(data: bytes) -> Any:
    """The card as JSON (null: none), or {"invalid": why} for bytes no node would accept."""
    if not data:
        return None
    import json

    from verinfer.errors import ModelCardError
    from verinfer.inference.card import ModelCard

    try:
        ModelCard.from_bytes(data)
    except ModelCardError as exc:
        return {"invalid": str(exc)}
    return json.loads(data)


def _provenance_json(provenance: ModelProvenance) -> dict[str, Any]:
    return {
        "publisher": provenance.publisher,
        "registeredAt": provenance.registered_at,
        "verifierCodeHash": hex_(provenance.verifier_code_hash),
        "vkHash": hex_(provenance.vk_hash),
        "mirrors": list(provenance.mirrors),
    }


def _terms_json(terms: ModelTerms) -> dict[str, Any]:
    return {
        "price": str(terms.price),
        "inputBytes": terms.input_bytes,
        "outputBytes": terms.output_bytes,
        "modes": _modes(terms.modes),
        "deprecated": terms.deprecated,
        "envRestricted": terms.env_restricted,
        "exists": terms.exists,
        "scale": terms.scale,
    }


@model_app.command("register")
def model_register_command(
    path: Annotated[Path, typer.Argument(help="The ONNX file; its keccak256 is the model id.")],
    uri: Annotated[str, typer.Option(help="Where nodes fetch the file from.")],
    price: Annotated[int, typer.Option(min=0, max=2**96 - 1, help="Price per node answer, in wei.")],
    private_key: PrivateKey,
    mode: Annotated[
        list[ModeName] | None, typer.Option(help="Allowed mode; repeat for several (default single).")
    ] = None,
    allowed_env: Annotated[
        list[str] | None, typer.Option(help="Allowed environment hash (0x, 32 bytes); repeat; default any.")
    ] = None,
    scale: Annotated[int, typer.Option(min=1, help="Fixed-point scale of inputs and outputs.")] = 1_000_000,
    zk: Annotated[
        bool, typer.Option("--zk", help="Also prove it: build the circuit, deploy its verifier, allow ZK.")
    ] = False,
    calibration_csv: Annotated[
        Path | None, typer.Option(help="--zk: rows of typical inputs (CSV, one row per line) to calibrate the circuit.")
    ] = None,
    srs: Annotated[
        Path | None, typer.Option(help="--zk: a ceremony SRS file; without it an INSECURE local one is made (devnets).")
    ] = None,
    zk_dir: Annotated[
        Path, typer.Option(help="--zk: where the circuit artifacts are kept by model id (the node's zk.artifacts_dir).")
    ] = Path("~/.verinfer/zk"),
    input_sample: InputSample = None,
    rows: Annotated[
        int, typer.Option(min=1, help="Rows per request, for a model with a symbolic batch dimension.")
    ] = 1,
    challenge_window: Annotated[
        int,
        typer.Option(
            min=0,
            help="Seconds a SINGLE result stays challengeable (10..604800; 0: the hub's window, which also caps it).",
        ),
    ] = 0,
    stake_at_risk: Annotated[
        int,
        typer.Option(
            min=0,
            help="Wei one result may move: nodes need this much stake to serve the model and lose at least this "
            "much when a result is overturned.",
        ),
    ] = 0,
    arithmetic_class: Annotated[
        list[str] | None,
        typer.Option(
            help="An arithmetic class whose nodes may serve the model (repeatable; default: any). Name only classes "
            "that give its outputs bit for bit: " + ", ".join(ARITHMETIC_CLASSES.values()) + ".",
        ),
    ] = None,
    port_scale: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=SCALE: a float input's or output's own scale (e.g. x=2^40; repeatable); the others take "
            "--scale. `verinfer model check` recommends them.",
        ),
    ] = None,
    labels: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=a,b,c or NAME=@file (one label per line): names of an output's positions (probabilities) "
            "or of an integer output's values 0..n-1 (repeatable).",
        ),
    ] = None,
    commit: Annotated[
        list[str] | None,
        typer.Option(help="An output that results commit (repeatable; default: every output)."),
    ] = None,
    timeout_ms: Annotated[
        int | None, typer.Option(min=1, max=3_600_000, help="Wall clock one request may take (nodes' bound).")
    ] = None,
    memory_mb: Annotated[
        int | None, typer.Option(min=16, max=1 << 20, help="Memory one request may use, MB (nodes' bound).")
    ] = None,
    skip_checks: Annotated[
        bool,
        typer.Option(
            "--skip-checks",
            help="Register without the `model check` checks (onnxruntime load, signature, dtypes, limits, "
            "fidelity) and without checking that --uri serves this file.",
        ),
    ] = False,
    rpc_url: RpcUrl = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """Register an ONNX model and print its id.

    The entry's card lists the file's ports with the choices made here: --port-scale, --labels, --commit,
    --timeout-ms and --memory-mb (see docs/model-authors.md).

    First the checks of `verinfer model check` run, and --uri is fetched as a node would and must hash to the model
    id: any problem refuses the registration with the full list (--skip-checks skips them). A --scale at which the
    sample rows give other outputs than the float model is a warning naming the scale that gives identical ones.

    With --zk the model is also prepared for proofs (circuit, keys and verifier cached under --zk-dir by model id;
    --scale is then the circuit's, a power of two), its verifier is deployed and ZK is added to its modes.

    JSON: {"modelId": "0x<32 bytes>"} (with --zk also "verifier": "0x<address>", "artifacts": "<directory>")
    """
    with errors():
        envs = [bytes32(env, "--allowed-env") for env in allowed_env or []]
        if not path.is_file():
            raise ConfigError(f"no model file at {path}")
        modes = [m.mode() for m in mode or [ModeName.single]]
        if zk and calibration_csv is None:
            raise ConfigError("--zk needs --calibration-csv: rows of typical inputs for the circuit's value ranges")
        if not zk and (calibration_csv is not None or srs is not None):
            raise ConfigError("--calibration-csv and --srs apply to --zk only")
        try:
            classes = arithmetic_classes_mask(arithmetic_class or [])
        except ValueError as exc:
            raise ConfigError(f"--arithmetic-class: {exc}") from None
        if zk and (challenge_window or stake_at_risk or classes):
            raise ConfigError(
                "--challenge-window, --stake-at-risk and --arithmetic-class are not supported with --zk yet (a "
                "proof settles a ZK result at once); register without them"
            )
        scales = dict(_named(item, "--port-scale", _scale_value) for item in port_scale or [])
        named_labels = dict(_named(item, "--labels", _labels_value) for item in labels or [])
        card_given = scales or named_labels or commit or timeout_ms is not None or memory_mb is not None
        if zk and card_given:
            raise ConfigError("--port-scale, --labels, --commit, --timeout-ms and --memory-mb do not apply to --zk")
        if not skip_checks:
            _check_before_registering(path, uri, None if zk else scale, input_sample, scales)
        client = _client(rpc_url, private_key)
        if zk:
            registered = _register_zk(client, path, uri, price, modes, envs, calibration_csv or Path(), srs, zk_dir)
            if as_json:
                echo_json(
                    {
                        "modelId": hex_(registered.model_id),
                        "verifier": registered.verifier,
                        "artifacts": str(registered.artifacts.directory),
                    }
                )
                return
            typer.echo(hex_(registered.model_id))
            return
        model_id = client.register_model(
            path,
            uri,
            price,
            modes,
            envs,
            scale=scale,
            rows=rows,
            challenge_window=challenge_window,
            stake_at_risk=stake_at_risk,
            arithmetic_classes=classes,
            scales=scales,
            labels=named_labels,
            committed=commit,
            limits=_card_limits(timeout_ms, memory_mb),
        )
    if as_json:
        echo_json({"modelId": hex_(model_id)})
        return
    typer.echo(hex_(model_id))


def _register_zk(
    client: Client,
    path: Path,
    uri: str,
    price: int,
    modes: list[Mode],
    envs: list[bytes],
    calibration_csv: Path,
    srs: Path | None,
    zk_dir: Path,
) -> Any:
    with requires_extra("verinfer model register --zk", "zk"):
        from verinfer.zk import RichProgress, register_zk_model  # ezkl loads only for --zk

    logs_to_stderr()  # the ZK pipeline logs (structlog); stdout keeps only what this command prints
    rows = _csv_rows(calibration_csv, "--calibration-csv")
    if srs is None:
        typer.echo(
            "warning: no --srs given: generating an INSECURE structured reference string on this machine "
            "(fine for a devnet, never for real value)",
            err=True,
        )
    return register_zk_model(
        client,
        path,
        rows,
        uri=uri,
        price=price,
        cache_dir=zk_dir.expanduser(),
        srs_path=srs,
        modes=sorted({*modes, Mode.ZK}),
        allowed_environments=envs,
        progress=RichProgress(),
    )


def _card_limits(timeout_ms: int | None, memory_mb: int | None) -> Any:
    from verinfer.inference.card import CardLimits

    return CardLimits(timeout_ms=timeout_ms, memory_mb=memory_mb)


def _named(item: str, option: str, value: Callable[[str, str], Any]) -> tuple[str, Any]:
    name, sep, raw = item.partition("=")
    if not sep or not name:
        raise ConfigError(f"{option} {item!r}: give NAME=VALUE, NAME being the graph's input or output name")
    return name, value(raw, f"{option} {name}")


def _scale_value(raw: str, where: str) -> int:
    base, sep, power = raw.partition("^")
    try:
        scale = int(base) ** int(power) if sep else int(raw)
    except ValueError:
        raise ConfigError(f"{where}={raw!r}: a scale is a positive integer or a power like 2^40") from None
    if not 1 <= scale < 2**64:
        raise ConfigError(f"{where}={raw!r}: a scale lies in [1, 2^64 - 1]")
    return scale


def _labels_value(raw: str, where: str) -> list[str]:
    if raw.startswith("@"):
        try:
            return [line.strip() for line in Path(raw[1:]).read_text().splitlines() if line.strip()]
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read the labels file {raw[1:]}: {exc}") from None
    return [label.strip() for label in raw.split(",")]


def _check_before_registering(
    path: Path, uri: str, scale: int | None, input_sample: Path | None, port_scales: Mapping[str, int]
) -> None:
    """`model check`'s checks and the URI's: refuses with every problem on stderr; warns when the served input scale
    (the input's --port-scale, else `scale`; None: not the served scale, as with --zk) changes outputs on the sample
    rows."""
    from verinfer.inference.check import CANDIDATE_SCALES, check_model, check_uri

    scales = list(CANDIDATE_SCALES)
    for candidate in sorted(s for s in {scale, *port_scales.values()} if s is not None):
        if all(s != candidate for _, s in scales):
            scales.append((f"scale {candidate}", candidate))
    checked = check_model(path, _read_sample(input_sample), scales=scales)
    problems = [*checked.problems, *check_uri(checked.model_id, uri)]
    if problems:
        for problem in problems:
            typer.echo(_problem_line(problem), err=True)
        raise ConfigError(
            f"model {hex_(checked.model_id)} fails {len(problems)} check(s), listed above: fix them, or pass "
            "--skip-checks to register it anyway"
        )
    fidelity = checked.fidelity
    if fidelity is not None and scale is not None:
        scale = port_scales.get(fidelity.input_name, scale)
    served = fidelity.at(scale) if fidelity is not None and scale is not None else None
    best = fidelity.recommended if fidelity is not None else None
    if fidelity is not None and served is not None and best is not None and not served.exact:
        typer.echo(
            f"warning: at scale {scale}, {served.rows_differing} of {fidelity.rows} sample rows give other outputs "
            f"than the float model (max error {served.max_error:.6g}); --port-scale "
            f"{fidelity.input_name}={best.scale} ({best.name}) gives "
            f"{'identical ones' if best.exact else f'{best.rows_differing} differing rows'} "
            "(`verinfer model check` shows the table)",
            err=True,
        )


def _problem_line(problem: Problem) -> str:
    return f"problem [{problem.code}]: {problem.message}\n    fix: {problem.fix}"


def _check_json(checked: ModelCheck) -> dict[str, Any]:
    fidelity = checked.fidelity
    best = fidelity.recommended if fidelity is not None else None
    return {
        "modelId": hex_(checked.model_id),
        "bytes": checked.size,
        "ok": checked.ok,
        "problems": [{"code": p.code, "message": p.message, "fix": p.fix} for p in checked.problems],
        "fidelity": None
        if fidelity is None
        else {
            "input": fidelity.input_name,
            "rows": fidelity.rows,
            "generated": fidelity.generated,
            "scales": [
                {
                    "name": s.name,
                    "scale": s.scale,
                    "rowsDiffering": s.rows_differing,
                    "maxError": s.max_error,
                    "unusable": s.unusable,
                }
                for s in fidelity.scales
            ],
            "recommended": None if best is None else {"name": best.name, "scale": best.scale, "exact": best.exact},
            "largestOutput": fidelity.largest_output,
            "outputScaleLimit": fidelity.output_scale_limit,
        },
        "fidelitySkipped": checked.fidelity_skipped,
    }


@model_app.command("check")
def model_check_command(
    path: Annotated[Path, typer.Argument(help="The ONNX file.")],
    input_sample: InputSample = None,
    as_json: AsJson = False,
) -> None:
    """Check an ONNX model the way the registry and a node will treat it, and list every problem at once, each with
    its fix; exit 1 when there is any.

    For a float input it also reports fidelity: the node feeds the model the input rounded to the model's
    fixed-point scale, so for each candidate scale it counts the sample rows whose outputs differ from the float
    model's, and recommends the smallest scale at which all are identical (else the closest one). Give typical
    rows with --input-sample; without them, rows are drawn from a standard normal.

    JSON: {"modelId", "bytes", "ok", "problems": [{"code", "message", "fix"}],
    "fidelity": {"input", "rows", "generated", "scales": [{"name", "scale", "rowsDiffering",
    "maxError", "unusable"}], "recommended": {"name", "scale", "exact"}, "largestOutput", "outputScaleLimit"} | null,
    "fidelitySkipped"}
    """
    with errors():
        if not path.is_file():
            raise ConfigError(f"no model file at {path}")
        from verinfer.inference.check import check_model  # onnxruntime loads for a check, not for --help

        checked = check_model(path, _read_sample(input_sample))
    if as_json:
        echo_json(_check_json(checked))
    else:
        _print_check(checked)
    if not checked.ok:
        raise typer.Exit(1)


def _print_check(checked: ModelCheck) -> None:
    from rich.table import Table

    out = console()
    out.print(f"model {hex_(checked.model_id)}, {checked.size} bytes", markup=False, highlight=False)
    if checked.problems:
        table = Table(title=f"{len(checked.problems)} problem(s)")
        table.add_column("problem")
        table.add_column("what", overflow="fold")
        table.add_column("fix", overflow="fold")
        for problem in checked.problems:
            table.add_row(_cell(problem.code), _cell(problem.message), _cell(problem.fix))
        out.print(table)
    else:
        out.print("no problems: the registry and the node accept it", markup=False)
    fidelity = checked.fidelity
    if fidelity is None:
        out.print(f"no fidelity report: {checked.fidelity_skipped}", markup=False, highlight=False)
        return
    where = "generated (standard normal; give --input-sample)" if fidelity.generated else "given"
    table = Table(title=f"Fidelity of input {fidelity.input_name!r} on {fidelity.rows} {where} rows")
    table.add_column("scale")
    table.add_column("rows differing", justify="right")
    table.add_column("max error", justify="right")
    for s in fidelity.scales:
        differing = "unusable: " + s.unusable if s.unusable else str(s.rows_differing)
        table.add_row(f"{s.name} ({s.scale})", _cell(differing), f"{s.max_error:.6g}")
    out.print(table)
    best = fidelity.recommended
    if best is None:
        out.print("no candidate scale can carry these rows", markup=False)
    elif best.exact:
        out.print(f"recommended scale: {best.scale} ({best.name}), outputs identical on every row", markup=False)
    else:
        out.print(
            f"recommended scale: {best.scale} ({best.name}), still {best.rows_differing} differing rows "
            f"(max error {best.max_error:.6g})",
            markup=False,
        )
    limit = fidelity.output_scale_limit
    if limit is not None:
        out.print(
            f"outputs up to {fidelity.largest_output:.6g}: float32 carries a scale of at most {limit} there (one "
            "float32 step per canonical unit); above it runtimes that round differently give different outputs",
            markup=False,
        )
        if best is not None and best.scale > limit:
            out.print(
                f"note: the input wants {best.scale}, the outputs at most {limit}: register each at its own scale, "
                f"--port-scale {fidelity.input_name}={best.scale} and --port-scale OUTPUT={limit} for each float "
                "output (one scale for both would make honest nodes on other runtimes disagree)",
                markup=False,
            )


@model_app.command("show")
def model_show_command(
    model_id: Annotated[str, typer.Argument(help="The model id, 0x + 64 hex digits.")],
    private_key: ReadKey = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """Print a model's registered spec, who published it, and the hub's request terms.

    JSON (wei as decimal strings, modes by name, hashes as 0x-hex):
    {"modelId", "spec": {"uri", "inputShape", "outputShape", "scale", "price",
    "modes", "allowedEnvironments", "challengeWindow", "stakeAtRisk", "arithmeticClasses", "verifier", "card" (the
    model card as JSON, null if none, {"invalid": why} if no node would accept it)}, "provenance": {"publisher",
    "registeredAt", "verifierCodeHash", "vkHash", "mirrors"}, "terms": {"price",
    "inputBytes", "outputBytes", "modes", "deprecated", "envRestricted", "exists"}}
    """
    from rich.table import Table

    with errors():
        raw_id = bytes32(model_id, "MODEL_ID")
        client = _client(rpc_url, private_key)
        spec = client.model(raw_id)
        provenance = client.provenance(raw_id)
        terms = client.system.terms_of(raw_id)
    sections = {"spec": _spec_json(spec), "provenance": _provenance_json(provenance), "terms": _terms_json(terms)}
    if as_json:
        echo_json({"modelId": hex_(raw_id), **sections})
        return
    table = Table(title=f"Model {hex_(raw_id)}")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for section, fields in sections.items():
        for key, value in fields.items():
            table.add_row(f"{section}.{key}", _cell(value))
    console().print(table)


@model_app.command("list")
def model_list_command(
    private_key: ReadKey = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """List the ids of every registered model, in registration order.

    JSON: {"models": ["0x<model id>", ...]}
    """
    with errors():
        system = _client(rpc_url, private_key).system
        count = int(system.sender.call(system.models.functions.modelCount()))
        ids = [hex_(bytes(system.sender.call(system.models.functions.modelIdAt(i)))) for i in range(count)]
    if as_json:
        echo_json({"models": ids})
        return
    for model in ids:
        typer.echo(model)


# ---------------------------------------------------------------------------------------------------------------------
# verinfer request / result / verify
# ---------------------------------------------------------------------------------------------------------------------


def _read_input(inline: str | None, csv_path: Path | None) -> list[Any] | dict[str, Any]:
    if inline is not None and csv_path is not None:
        raise ConfigError("give one of --input and --input-csv, not both")
    if inline is not None:
        return _json_input(inline, "--input")
    if csv_path is None:
        raise ConfigError("give the input with --input '[[...]]' or --input-csv FILE")
    return _csv_rows(csv_path, "--input-csv")


def _json_input(text: str, what: str) -> list[Any] | dict[str, Any]:
    """--input: a JSON array of numbers, or an object of named inputs, each a JSON array of numbers."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        return _json_numbers(text, what)
    for name, item in value.items():
        at = f"{what}[{json.dumps(name)}]"
        if not isinstance(item, list):
            raise ConfigError(f"{at} must be a JSON array of numbers (the input's values), got {json.dumps(item)}")
        _check_numbers(item, at)
    return value


def _json_numbers(text: str, what: str) -> list[Any]:
    """A JSON array whose every leaf is a number: null, "5.1" or true would otherwise be read as NaN, parsed or 1."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not JSON: {exc}") from exc
    if not isinstance(value, list):
        raise ConfigError(f"{what} must be a JSON array of numbers, got {text[:80]!r}")
    _check_numbers(value, what)
    return value


def _check_numbers(value: list[Any], where: str) -> None:
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if isinstance(item, list):
            _check_numbers(item, at)
        elif isinstance(item, bool) or not isinstance(item, int | float):
            raise ConfigError(
                f"{at} is {json.dumps(item)}, not a number: write every value as a JSON number, unquoted "
                "(no null, true/false or strings)"
            )


def _csv_rows(path: Path, what: str) -> list[list[float]]:
    """Rows of numbers, one per line; a first row that is not all numbers is a header and skipped."""
    try:
        with path.open(newline="") as handle:
            rows = [row for row in csv.reader(handle) if row]
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if rows and not all(_is_number(cell) for cell in rows[0]):
        rows = rows[1:]
        first = 2
    else:
        first = 1
    for line, row in enumerate(rows, start=first):
        for column, cell in enumerate(row, start=1):
            if not _is_number(cell):
                raise ConfigError(
                    f"{what} {path}, line {line}, column {column}: {cell!r} is not a number "
                    "(only the first line may be a header)"
                )
    return [[float(cell) for cell in row] for row in rows]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_sample(path: Path | None) -> list[Any] | None:
    """--input-sample: a JSON array of rows (file ending .json) or a CSV file; None when not given."""
    if path is None:
        return None
    if path.suffix.lower() == ".json":
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read --input-sample {path}: {exc.strerror or exc}") from exc
        return _json_numbers(text, "--input-sample")
    return _csv_rows(path, "--input-sample")


def _result_json(result: InferenceResult) -> dict[str, Any]:
    import numpy as np

    return {
        "requestId": result.request_id,
        "mode": result.mode.name.lower(),
        "output": np.asarray(result.output).tolist(),
        **({} if result.outputs is None else {"outputs": {k: v.tolist() for k, v in result.outputs.items()}}),
        **({} if result.labelled is None else {"labelled": dict(result.labelled)}),
        **({} if result.text is None else {"text": result.text, "tokenIds": list(result.token_ids or ())}),
        "modelId": hex_(result.model_id),
        "inputHash": hex_(result.input_hash),
        "outputHash": hex_(result.output_hash),
        "envHashes": [hex_(env) for env in result.env_hashes],
        "nodes": list(result.nodes),
        "commitment": hex_(result.commitment),
        "requestBlock": result.request_block,
        "resultBlock": result.result_block,
        "requestTx": hex_(result.request_tx),
        "resultTx": hex_(result.result_tx),
    }


def _print_result(result: InferenceResult) -> None:
    from rich.table import Table

    table = Table(title=f"Result of request {result.request_id}")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in _result_json(result).items():
        table.add_row(key, _cell(value))
    console().print(table)


def _sent(handle: RequestHandle, wait: bool, timeout: float, as_json: bool) -> InferenceResult | None:
    """Prints a sent request's id (before waiting: a timeout must not hide which request was sent), or with --json
    its document once the wait is over; returns the result when waited for."""
    if not as_json:
        typer.echo(str(handle.request_id))
    result = handle.result(timeout=timeout) if wait else None
    if as_json:
        document: dict[str, Any] = {
            "requestId": handle.request_id,
            "modelId": hex_(handle.model_id),
            "mode": handle.mode.name.lower(),
            "block": handle.block_number,
            "txHash": hex_(handle.tx_hash),
        }
        if result is not None:
            document["result"] = _result_json(result)
        echo_json(document)
    return result


@app.command("request")
def request_command(
    model_id: Annotated[str, typer.Argument(help="The model id, 0x + 64 hex digits.")],
    private_key: PrivateKey,
    input_json: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="Input as a JSON array, e.g. '[[0.1, 2]]', or named inputs, e.g. '{\"x\": [[0.1]], \"ids\": [[3]]}'.",
        ),
    ] = None,
    input_csv: Annotated[Path | None, typer.Option(help="Input as a CSV file of numbers, one row per line.")] = None,
    mode: Annotated[ModeName, typer.Option(help="How the result is shown correct.")] = ModeName.single,
    redundancy: Annotated[int, typer.Option(min=1, help="How many nodes answer (fee = price x redundancy).")] = 1,
    deadline: Annotated[int, typer.Option(min=1, help="Seconds from now until the request expires.")] = 3600,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result and print it.")] = False,
    timeout: Annotated[float, typer.Option(min=0, help="With --wait: seconds to wait.")] = 30.0,
    rpc_url: RpcUrl = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """Request an inference and print the request id (and, with --wait, the result).

    JSON: {"requestId", "modelId", "mode", "block", "txHash"},
    and with --wait also "result": the object `verinfer result --json` prints.
    """
    with errors():
        raw_id = bytes32(model_id, "MODEL_ID")
        inputs = _read_input(input_json, input_csv)
        handle = _client(rpc_url, private_key).request(
            raw_id, inputs, mode=mode.mode(), redundancy=redundancy, deadline_s=deadline
        )
        result = _sent(handle, wait, timeout, as_json)
    if result is not None and not as_json:
        _print_result(result)


@app.command("ask")
def ask_command(
    model_id: Annotated[str, typer.Argument(help="The language model's id (a bundle), 0x + 64 hex digits.")],
    prompt: Annotated[str, typer.Argument(help="The prompt; the model continues it greedily.")],
    private_key: PrivateKey,
    mode: Annotated[ModeName, typer.Option(help="How the answer is shown correct.")] = ModeName.single,
    redundancy: Annotated[int, typer.Option(min=1, help="How many nodes answer (CONSENSUS: 3 or more).")] = 1,
    max_new_tokens: Annotated[
        int, typer.Option(min=0, max=65_535, help="The most tokens to generate (0: the model's bound).")
    ] = 0,
    deadline: Annotated[int, typer.Option(min=1, help="Seconds from now until the request expires.")] = 3600,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the answer and print it.")] = False,
    timeout: Annotated[float, typer.Option(min=0, help="With --wait: seconds to wait.")] = 60.0,
    rpc_url: RpcUrl = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """Ask a language model and print the request id (and, with --wait, the answer's text).

    JSON: {"requestId", "modelId", "mode", "block", "txHash"}, and with --wait also "result": the object
    `verinfer result --json` prints (with "text" and "tokenIds").
    """
    with errors():
        handle = _client(rpc_url, private_key).generate(
            bytes32(model_id, "MODEL_ID"),
            prompt,
            mode=mode.mode(),
            redundancy=redundancy,
            max_new_tokens=max_new_tokens,
            deadline_s=deadline,
        )
        result = _sent(handle, wait, timeout, as_json)
    if result is not None and not as_json:
        typer.echo(prompt + (result.text or ""))


@app.command("reclaim")
def reclaim_command(
    request_id: Annotated[int, typer.Argument(min=1, help="The request id.")],
    private_key: PrivateKey,
    withdraw: Annotated[
        bool, typer.Option("--withdraw", help="Then pay your whole hub balance out to your account.")
    ] = False,
    rpc_url: RpcUrl = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """Credit an expired request's whole fee back to its requester (anyone may send it), and with --withdraw pay
    your hub balance out.

    JSON (wei as decimal strings): {"requestId", "reclaimed", "withdrawn"}
    """
    with errors():
        client = _client(rpc_url, private_key)
        reclaimed = client.reclaim(request_id)
        withdrawn = client.withdraw() if withdraw else 0
    if as_json:
        echo_json({"requestId": request_id, "reclaimed": str(reclaimed), "withdrawn": str(withdrawn)})
        return
    typer.echo(f"request {request_id}: {reclaimed} wei credited to its requester's hub balance")
    if withdraw:
        typer.echo(f"withdrew {withdrawn} wei")
    else:
        typer.echo("the requester pays it out with `verinfer withdraw`")


@app.command("withdraw")
def withdraw_command(
    private_key: PrivateKey,
    to: Annotated[str | None, typer.Option(help="Pay to this address (default: your account).")] = None,
    disputes: Annotated[
        bool,
        typer.Option(
            "--disputes",
            help="Also pay out your dispute balance (bonds back, challengers' and committee members' rewards).",
        ),
    ] = False,
    rpc_url: RpcUrl = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """Pay your whole hub balance (refunds, callback escrow left over; a node's fees) out to your account, and with
    --disputes your balance in the dispute contract too.

    JSON (wei as decimal strings): {"withdrawn"} (with --disputes also "withdrawnDisputes")
    """
    with errors():
        client = _client(rpc_url, private_key)
        if not disputes:
            withdrawn, from_disputes = client.withdraw(to), 0
        else:
            hub_balance, dispute_balance = client.balance(), client.dispute_balance()
            if hub_balance == 0 and dispute_balance == 0:
                raise ChainError(f"{client.address} has nothing to withdraw from the hub or the dispute contract")
            withdrawn = client.withdraw(to) if hub_balance else 0
            from_disputes = client.withdraw_dispute(to) if dispute_balance else 0
    if as_json:
        shown = {"withdrawn": str(withdrawn)}
        if disputes:
            shown["withdrawnDisputes"] = str(from_disputes)
        echo_json(shown)
    elif disputes:
        typer.echo(f"withdrew {withdrawn} wei from the hub and {from_disputes} wei from the dispute contract")
    else:
        typer.echo(f"withdrew {withdrawn} wei")


@model_app.command("deprecate")
def model_deprecate_command(
    model_id: Annotated[str, typer.Argument(help="The model id, 0x + 64 hex digits.")],
    private_key: PrivateKey,
    rpc_url: RpcUrl = DEFAULT_RPC,
) -> None:
    """Deprecate a model you published: the hub refuses new requests for it; open requests and recorded results
    stand. To keep it served from elsewhere instead, add a mirror: `verinfer model add-mirror`."""
    with errors():
        raw_id = bytes32(model_id, "MODEL_ID")
        _client(rpc_url, private_key).deprecate_model(raw_id)
    typer.echo(f"model {hex_(raw_id)} deprecated: new requests for it are refused")


@model_app.command("add-mirror")
def model_add_mirror_command(
    model_id: Annotated[str, typer.Argument(help="The model id, 0x + 64 hex digits.")],
    uri: Annotated[str, typer.Argument(help="Another URI that serves the model's file, byte for byte.")],
    private_key: PrivateKey,
    skip_checks: Annotated[
        bool, typer.Option("--skip-checks", help="Add it without fetching it first to check it serves the file.")
    ] = False,
    rpc_url: RpcUrl = DEFAULT_RPC,
) -> None:
    """Add a mirror URI to a model you published (the registry's owner may too: `verinfer admin add-mirror`).
    Nodes and `verify` fetch from the mirrors, in order, when the entry's URI fails; the file's hash is the id, so a
    mirror can only serve the file or fail. The URI is fetched first, as a node would, and must serve the file."""
    from verinfer.inference.check import check_uri

    with errors():
        raw_id = bytes32(model_id, "MODEL_ID")
        if not skip_checks:
            problems = check_uri(raw_id, uri)
            if problems:
                for problem in problems:
                    typer.echo(_problem_line(problem), err=True)
                raise ConfigError(f"{uri} does not serve model {hex_(raw_id)}: fix it, or pass --skip-checks")
        _client(rpc_url, private_key).add_mirror(raw_id, uri)
    typer.echo(f"model {hex_(raw_id)}: mirror {uri} added")


@app.command("result")
def result_command(
    request_id: Annotated[int, typer.Argument(min=1, help="The request id.")],
    timeout: Annotated[float, typer.Option(min=0, help="Seconds to wait for a pending request (0: do not wait).")] = 0,
    private_key: ReadKey = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """Print a request's decoded output and its provenance (nodes, environments, commitment, blocks, txs), whether
    it is final (a SINGLE result is provisional until its challenge window passes, and may be disputed or
    overturned), and who the lottery assigned it to: the primary and when each fallback's window opens (also for a
    pending request).

    JSON ("output" as nested lists of floats, every element / its scale; hashes as 0x-hex; when the entry's card
    lists the ports, or the request was sent with named inputs, also "outputs": each committed output by name, ints
    as ints and bools as bools, and "labelled": the outputs the card labels, by label):
    {"requestId", "mode", "output", "modelId", "inputHash", "outputHash",
    "envHashes", "nodes", "commitment", "requestBlock", "resultBlock",
    "requestTx", "resultTx", "finality": FINALITY,
    "assignment": {"primary", "windows": [{"node", "opensAt"}], "opensToAllAt"}}.
    FINALITY: {"status", "phase" (provisional, final, disputed or overturned), "isFinal", "finalAt" (0: final when
    recorded), "dispute": null or DISPUTE}; DISPUTE: {"state", "challenger", "bond" (wei), "node", "outputHash",
    "commits", "reveals", "commitEndsAt", "revealEndsAt", "resolvableAt", "winner", "members"}
    """
    from verinfer.sdk.client import ResultTimeoutError

    with errors():
        client = _client(rpc_url, private_key)
        handle = client.handle(request_id)
        assignment = _assignment_json(handle.assignment())
        try:
            result = handle.result(timeout=timeout)
        except ResultTimeoutError:
            # Still pending: who may answer it, and when, is what the requester wants to know.
            if as_json:
                echo_json({"requestId": request_id, "status": "pending", "assignment": assignment})
            else:
                _print_assignment(request_id, assignment)
            raise
        finality = client.finality(request_id)
    document = {**_result_json(result), "finality": _finality_json(finality), "assignment": assignment}
    if as_json:
        echo_json(document)
        return
    _print_result(result)
    _print_finality(finality)
    _print_assignment(request_id, assignment)


def _dispute_json(dispute: Dispute) -> dict[str, Any]:
    return {
        "state": dispute.state.name,
        "challenger": dispute.challenger,
        "bond": str(dispute.bond),
        "node": dispute.node,
        "outputHash": hex_(dispute.output_hash),
        "commits": dispute.commits,
        "reveals": dispute.reveals,
        "commitEndsAt": dispute.commit_ends_at,
        "revealEndsAt": dispute.reveal_ends_at,
        "resolvableAt": dispute.resolvable_at,
        "winner": hex_(dispute.winner),
        "members": list(dispute.members),
    }


def _finality_json(finality: Finality) -> dict[str, Any]:
    return {
        "status": finality.status.name,
        "phase": finality.phase,
        "isFinal": finality.is_final,
        "finalAt": finality.final_at,
        "dispute": None if finality.dispute is None else _dispute_json(finality.dispute),
    }


def _finality_line(finality: Finality) -> str:
    """Where the result stands, in one line."""
    phase = finality.phase
    if phase == "provisional":
        return f"provisional: final at {finality.final_at} unless challenged before (`verinfer challenge`)"
    if phase == "final":
        return f"final since {finality.final_at}" if finality.final_at else "final (when recorded)"
    if phase == "disputed" and finality.dispute is not None:
        d = finality.dispute
        return (
            f"disputed by {d.challenger} (bond {d.bond} wei): {d.commits} of the committee's seats taken, "
            f"{d.reveals} revealed; resolvable after {d.resolvable_at}, or once every seat taken revealed"
        )
    if phase == "overturned":
        return "overturned: a dispute replaced the node's result with the committee's (or a proof's), now final"
    return phase


def _print_finality(finality: Finality) -> None:
    typer.echo(_finality_line(finality))
    if finality.dispute is not None and finality.phase != "disputed":
        typer.echo(f"dispute: {finality.dispute.state.name} (challenged by {finality.dispute.challenger})")


@app.command("challenge")
def challenge_command(
    request_id: Annotated[int, typer.Argument(min=1, help="The request id.")],
    private_key: PrivateKey,
    bond: Annotated[
        int | None,
        typer.Option(min=1, help="The bond in wei (default and least: the dispute contract's bondFor(fee))."),
    ] = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """Challenge a provisional SINGLE result within its window, posting a bond: a committee drawn by the lottery
    re-executes it, and a wrong result costs its node its stake at risk (the bond comes back with half of it); a
    right one costs you the bond. End it with `verinfer resolve` once resolvable; collect with the SDK's
    `Client.withdraw_dispute`.

    JSON: {"requestId", and the DISPUTE of `verinfer result --json`}
    """
    with errors(
        {
            "BondTooLow": "pass a larger --bond, or leave it out",
            "NotChallengeable": "its result is final, disputed already, or not recorded",
        }
    ):
        dispute = _client(rpc_url, private_key).challenge(request_id, bond)
    if as_json:
        echo_json({"requestId": request_id, **_dispute_json(dispute)})
        return
    typer.echo(
        f"request {request_id}: challenged with a bond of {dispute.bond} wei; the committee commits until "
        f"{dispute.commit_ends_at}, and the dispute can be resolved after {dispute.resolvable_at}"
    )


# What a `resolve` outcome means for the parties, in one line.
RESOLVED = {
    "OVERTURNED": "the committee's output replaces the node's, which was slashed; the challenger gets the bond back "
    "and half of what the slash left after the requester's refund",
    "UPHELD": "the node's result stands, now final; the bond pays the node and the agreeing committee seats",
    "VOID": "no majority: the node's result stands, now final, and the bond goes back to the challenger",
}


@app.command("resolve")
def resolve_command(
    request_id: Annotated[int, typer.Argument(min=1, help="The request id.")],
    private_key: PrivateKey,
    rpc_url: RpcUrl = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """End a request's open dispute by its committee's vote (anyone may, once every seat taken revealed or the
    reveals closed): the output a strict majority revealed replaces a wrong result, and without a majority the
    challenged one stands. Too early, it says when the dispute becomes resolvable. The bond and rewards are then in
    the dispute contract, for the SDK's `Client.withdraw_dispute`.

    JSON: {"requestId", "finality": the FINALITY of `verinfer result --json`}
    """
    with errors(
        {
            "ResolveTooEarly": "the reveals are still open: try again after resolvableAt (unix seconds)",
            "DisputeNotOpen": "it was resolved already, or never opened",
        }
    ):
        finality = _client(rpc_url, private_key).resolve_dispute(request_id)
    if as_json:
        echo_json({"requestId": request_id, "finality": _finality_json(finality)})
        return
    state = finality.dispute.state.name if finality.dispute is not None else finality.status.name
    typer.echo(f"request {request_id}: dispute resolved {state}: {RESOLVED.get(state, finality.phase)}")
    _print_finality(finality)


@app.command("watch")
def watch_command(
    config: ConfigPath = Path("node.toml"),
    max_bond_wei: Annotated[
        int | None,
        typer.Option(
            min=0, help="The largest bond to post for one challenge (default: the config's watch.max_bond_wei)."
        ),
    ] = None,
    json_logs: Annotated[
        bool | None, typer.Option("--json-logs/--console-logs", help="Log format; default: JSON unless on a terminal.")
    ] = None,
) -> None:
    """Run the node as a watchtower: `verinfer node run` with the config's watch.watchtower and watch.committee
    set to true, whatever the file says. It re-executes other nodes' SINGLE results for the models it serves,
    challenges a wrong one within its window when the reward covers the gas and the bond is at most --max-bond-wei,
    votes on the dispute seats the lottery gives it and resolves disputes, until SIGTERM or Ctrl-C. The rest is
    `node run`'s: it registers its stake and models (what it watches, and what committee seats are drawn by) and
    serves requests for the modes it lists.
    """
    from verinfer.config import ENV_DELIMITER, ENV_PREFIX

    # The command line is one more layer over the file: it goes in as the environment variables that override it.
    fields = {"watchtower": "true", "committee": "true"}
    if max_bond_wei is not None:
        fields["max_bond_wei"] = str(max_bond_wei)
    overrides = {f"{ENV_PREFIX}WATCH{ENV_DELIMITER}{name.upper()}": value for name, value in fields.items()}
    with errors(REVERT_FIXES):
        with requires_extra("verinfer watch", "node"):
            from verinfer.node.service import run_node  # the service pulls in onnxruntime
        with _environment(overrides):
            run_node(config, json_logs=json_logs)


@contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """`variables` set in the process environment while the block runs, the previous values back after."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _assignment_json(assignment: Assignment) -> dict[str, Any]:
    return {
        "primary": assignment.primary,
        "windows": [{"node": w.node, "opensAt": w.opens_at} for w in assignment.windows],
        "opensToAllAt": assignment.opens_to_all_at,
    }


def _print_assignment(request_id: int, assignment: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"Assignment of request {request_id} (every node may act from {assignment['opensToAllAt']})")
    table.add_column("node")
    table.add_column("role")
    table.add_column("window opens at")
    for i, window in enumerate(assignment["windows"]):
        table.add_row(window["node"], "primary" if i == 0 else f"fallback {i}", str(window["opensAt"]))
    console().print(table)


def _verification_json(report: VerificationReport) -> dict[str, Any]:
    return {
        "requestId": report.request_id,
        "matches": report.matches,
        "checks": [check._asdict() for check in report.checks],
        "differences": [
            {"output": d.name, "index": d.index, "expected": d.expected, "recorded": d.recorded}
            for d in report.differences
        ],
        **(
            {}
            if report.regeneration is None
            else {
                "regeneration": {
                    "firstDifference": report.regeneration.first_difference,
                    "nearTieAtDifference": report.regeneration.near_tie_at_difference,
                    "minMargin": report.regeneration.min_margin,
                    "text": report.regeneration.regenerated_text,
                }
            }
        ),
    }


@app.command("verify")
def verify_command(
    request_id: Annotated[int, typer.Argument(min=1, help="The request id.")],
    model: Annotated[
        Path | None, typer.Option(help="A local copy of the model (default: fetch its registered URI).")
    ] = None,
    max_model_bytes: Annotated[
        int, typer.Option(min=1, help="Refuse to fetch a model file larger than this (the node's max_model_bytes).")
    ] = MAX_MODEL_BYTES,
    private_key: ReadKey = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """Re-execute a fulfilled request and check every recorded hash; exit 0 when all match, 1 when any does not.
    Also says whether the result is final (provisional, final, disputed or overturned).

    JSON: {"requestId", "matches", "checks": [{"field", "expected", "actual", "ok"}, ...],
    "differences": [{"output", "index", "expected", "recorded"}, ...] (decoded values, at most 20),
    "finality": the FINALITY of `verinfer result --json`}
    """
    with errors():
        if model is not None and not model.exists():
            raise ConfigError(f"no model file at {model} (nor a bundle directory)")
        client = _client(rpc_url, private_key)
        report = client.verify(request_id, model, max_model_bytes=max_model_bytes)
        finality = client.finality(request_id)
    if as_json:
        echo_json({**_verification_json(report), "finality": _finality_json(finality)})
    else:
        from rich.table import Table

        table = Table(title=f"Verification of request {request_id}")
        table.add_column("field")
        table.add_column("expected", overflow="fold")
        table.add_column("actual", overflow="fold")
        table.add_column("ok")
        for check in report.checks:
            ok = "yes" if check.ok else "[red]NO[/red]"
            table.add_row(check.field, _cell(check.expected), _cell(check.actual), ok)
        console().print(table)
        if report.differences:
            values = Table(title="Recorded output values re-execution does not give")
            for column in ("output", "index", "re-executed", "recorded"):
                values.add_column(column)
            for d in report.differences:
                values.add_row(d.name, str(d.index), str(d.expected), str(d.recorded))
            console().print(values)
        regen = report.regeneration
        if regen is not None and regen.first_difference is not None:
            tie = " (a near-tie there: not slashed under the CONSENSUS rule)" if regen.near_tie_at_difference else ""
            typer.echo(f"the token ids first differ at position {regen.first_difference}{tie}")
        _print_finality(finality)
        typer.echo("match" if report.matches else f"mismatch: {', '.join(report.failed)}")  # last: scripts read it
    if not report.matches:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------------------------------------
# verinfer explorer
# ---------------------------------------------------------------------------------------------------------------------

DEVNET_JSON = Path(".verinfer/devnet/devnet.json")


@app.command("explorer")
def explorer_command(
    rpc_url: Annotated[
        str | None,
        typer.Option(envvar="VERINFER_RPC_URL", help="JSON-RPC endpoint (default: the running devnet's, else :8545)."),
    ] = None,
    deployment_file: Annotated[
        Path | None, typer.Option(help="The deployment's address book (default deployments/<chainId>.json).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8780,
    model_dir: Annotated[
        list[Path] | None,
        typer.Option(help="A directory whose file:// models the page may fetch through the server; repeat."),
    ] = None,
    browser_rpc_url: Annotated[
        str | None, typer.Option(help="The RPC the page reads the chain through (default: --rpc-url).")
    ] = None,
) -> None:
    """Serve the verification explorer: recent requests, request, model and node pages, and a check of any result
    in the reader's own browser (chain read through the RPC, model re-run with onnxruntime-web).

    Without --rpc-url it shows the devnet that `verinfer devnet up` runs (its .verinfer/devnet/devnet.json), with
    the devnet's models served to the page.
    """
    with errors():
        require_modules("verinfer explorer", "explorer", "starlette", "uvicorn")
        from verinfer.explorer.server import ExplorerSettings, serve

        dirs = list(model_dir or [])
        if rpc_url is None and DEVNET_JSON.is_file():
            devnet = json.loads(DEVNET_JSON.read_text())
            rpc_url = str(devnet["rpcUrl"])
            deployment_file = deployment_file or Path(devnet["deploymentFile"])
            dirs.append(Path(devnet["stateDir"]) / "models")
        settings = ExplorerSettings(
            rpc_url=rpc_url or DEFAULT_RPC,
            deployment_file=deployment_file,
            host=host,
            port=port,
            model_dirs=dirs,
            browser_rpc_url=browser_rpc_url,
        )
        typer.echo(f"verinfer explorer on {settings.url()} (chain via {settings.rpc_url}); Ctrl-C stops it", err=True)
        serve(settings)
