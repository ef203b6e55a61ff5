"""The node's configuration: one validated object, read from a TOML file and `VERINFER_*` environment variables.

    rpc_url = "http://127.0.0.1:8545"      # or VERINFER_RPC_URL
    [keys]
    keystore_path = "~/.verinfer/node.json"
    password_file = "~/.verinfer/password"
    [batch]
    max_items = 32                         # or VERINFER_BATCH__MAX_ITEMS

Environment variables win over the file; a section's field is `VERINFER_<SECTION>__<FIELD>`. Relative paths are
relative to the working directory; `~` is expanded. `load_config` turns every validation failure into one
`ConfigError` that names each bad field by its dotted path, shows the value, says what is allowed and where to fix it.
"""

from __future__ import annotations

import os
import tomllib
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import annotated_types
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from verinfer.errors import ConfigError
from verinfer.types import MAX_MODEL_BYTES, Mode, arithmetic_class_id

ENV_PREFIX = "VERINFER_"
ENV_DELIMITER = "__"
DEFAULT_FILE_NAME = "node.toml"
RPC_SCHEMES = ("http", "https", "ws", "wss")
SERVED_MODES = (Mode.SINGLE, Mode.CONSENSUS)
"""The default: what any node serves. ZK is added by listing it, with `zk.artifacts_dir` set (the proving keys)."""
KNOWN_MODES = (Mode.SINGLE, Mode.CONSENSUS, Mode.ZK)
SECRET_FIELDS = frozenset({"private_key"})


def _rpc_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in RPC_SCHEMES or not parts.netloc:
        raise PydanticCustomError("rpc_url", "must be an http(s) or ws(s) URL with a host")
    return value


def _expand(path: Path) -> Path:
    return path.expanduser()


def _modes(value: Any) -> Any:
    """Modes by name (`"SINGLE"`, case-insensitive) or number; only the modes this node can serve."""
    items = [value] if isinstance(value, str | int) else value
    if not isinstance(items, Sequence) or not items:
        raise PydanticCustomError("modes", "must be a non-empty list of mode names")
    modes: list[Mode] = []
    for item in items:
        try:
            mode = Mode[item.upper()] if isinstance(item, str) else Mode(item)
        except (KeyError, ValueError):
            raise PydanticCustomError("modes", "unknown mode '{mode}'", {"mode": str(item)}) from None
        if mode not in KNOWN_MODES:
            raise PydanticCustomError("modes", "this node cannot serve mode {mode}", {"mode": mode.name})
        if mode not in modes:
            modes.append(mode)
    return tuple(sorted(modes))


RpcUrl = Annotated[str, AfterValidator(_rpc_url), Field(examples=["http://127.0.0.1:8545"])]
UserPath = Annotated[Path, AfterValidator(_expand)]
Positive = Annotated[int, Field(gt=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeysConfig(_Section):
    """The node's signing key: an encrypted keystore (with its password's source), or a raw key on devnets only."""

    keystore_path: UserPath | None = None
    private_key: SecretStr | None = None
    password_file: UserPath | None = None
    password_env: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_key(self) -> KeysConfig:
        if (self.keystore_path is None) == (self.private_key is None):
            raise PydanticCustomError(
                "keys", "set exactly one of keys.keystore_path (an eth-account keyfile) or keys.private_key (devnets)"
            )
        has_file, has_env = self.password_file is not None, self.password_env is not None
        if self.keystore_path is not None and has_file == has_env:
            raise PydanticCustomError(
                "keys", "a keystore needs exactly one password source: keys.password_file or keys.password_env"
            )
        if self.private_key is not None and (has_file or has_env):
            raise PydanticCustomError("keys", "keys.password_file and keys.password_env apply to a keystore only")
        return self


class BatchConfig(_Section):
    max_items: Annotated[int, Field(ge=1, le=256)] = 16
    max_gas: Positive = 10_000_000


def _arithmetic_class(value: object) -> str | int:
    if value == "auto":
        return "auto"
    try:
        return arithmetic_class_id(value if isinstance(value, int) else str(value))
    except ValueError as exc:
        raise PydanticCustomError(
            "arithmetic_class", '{reason}; or "auto" (this machine\'s)', {"reason": str(exc)}
        ) from None


class RunnerConfig(_Section):
    intra_op_threads: Annotated[int, Field(ge=1)] = 1
    graph_optimization_level: Literal["disabled", "basic", "extended", "all"] = "basic"  # the runner's default
    # The arithmetic class the node states on chain: "auto" (this machine's), a name or a number (ARITHMETIC_CLASSES).
    arithmetic_class: Annotated[str | int, BeforeValidator(_arithmetic_class)] = "auto"


class SandboxConfig(_Section):
    """Every model runs in a worker process of its own under these limits: wall-clock seconds per batch and
    megabytes of memory (address space) beyond the loaded model. A breach kills that worker and fails that request
    with the reason `limit`."""

    timeout_s: PositiveSeconds = 10.0
    memory_mb: Annotated[int, Field(ge=16, le=1 << 20)] = 1_024


class PolicyConfig(_Section):
    """Serve a request only if its fee (a CONSENSUS node's share: fee / redundancy) is at least
    `min_fee_wei + gas price x gas_per_result x transactions` (1 for SINGLE, 3 for CONSENSUS; the gas price is the
    base fee plus the node's tip), plus the callback gas its escrow leaves unpaid at that price; the fee is a CONSENSUS
    node's share of fee - escrow."""

    min_fee_wei: Annotated[int, Field(ge=0)] = 0
    gas_per_result: Annotated[int, Field(ge=0, le=30_000_000)] = 0


def _model_ids(value: Any) -> Any:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not items:
        raise PydanticCustomError("models", 'must be a non-empty list of model ids, or ["all"]')
    if list(items) == ["all"]:
        return ("all",)
    ids = []
    for item in items:
        text = str(item).lower()
        if not (text.startswith("0x") and len(text) == 66 and all(c in "0123456789abcdef" for c in text[2:])):
            raise PydanticCustomError("models", "'{item}' is not a model id (0x + 64 hex digits)", {"item": str(item)})
        ids.append(text)
    return tuple(ids)


class RegistrationConfig(_Section):
    """What the node registers (or tops up) at start: stake, served models; `auto = false` only checks."""

    auto: bool = True
    stake_wei: Annotated[int, Field(ge=0)] | None = None  # None: the registry's minimum stake
    models: Annotated[tuple[str, ...], BeforeValidator(_model_ids)] = ("all",)
    min_price_wei: Annotated[int, Field(ge=0)] = 0  # models priced below this are not served
    refresh_s: PositiveSeconds = 30.0  # how often the node looks for new and deprecated models while it runs


class TxConfig(_Section):
    tip_wei: Annotated[int, Field(ge=0)] | None = None  # None: the RPC node's eth_maxPriorityFeePerGas
    max_fee_wei: Annotated[int, Field(ge=1)] | None = None  # a cap on maxFeePerGas
    stuck_after_s: PositiveSeconds = 30.0
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    rpc_timeout_s: PositiveSeconds = 10.0
    deadline_margin_s: Annotated[int, Field(ge=0, le=3_600)] = 2
    min_balance_wei: Annotated[int, Field(ge=0)] | None = None  # None: one full batch at twice the base fee


class MetricsConfig(_Section):
    enabled: bool = True
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65_535)] = 9_464  # 0: any free port (tests)


class ZkConfig(_Section):
    """ZK mode: where the proving artifacts of each ZK model live (`<artifacts_dir>/<modelId hex>/`, as
    `verinfer model register --zk` or `verinfer.zk.prepare` wrote them), and how many processes prove at once."""

    artifacts_dir: UserPath | None = None
    workers: Annotated[int, Field(ge=1, le=64)] = 1


class WatchConfig(_Section):
    """Keeping other nodes honest. A watchtower re-executes other nodes' SINGLE results for the models this node
    serves and challenges a wrong one (`Disputes.challenge`) when the reward it expects (half of the liar's
    slashed stake left after the requester's fee refund) covers the challenge's gas and its bond is at most
    `max_bond_wei`. Committee duty: on every dispute of a model this node serves, it re-executes the request and
    votes (commit, reveal) on the seats the lottery gives it, and settles the dispute when it can."""

    watchtower: bool = False
    max_bond_wei: Annotated[int, Field(ge=0)] = 10**17
    committee: bool = True
    lookback_blocks: Annotated[int, Field(ge=1, le=1_000_000)] = 256
    """At the first start, how far back the scans of results and disputes look (later starts resume where they
    stopped)."""


class NodeConfig(BaseSettings):
    """Everything a node needs to run. Keyword arguments are the file layer: environment variables override them."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER, extra="forbid", frozen=True
    )

    rpc_url: RpcUrl
    chain_id: Annotated[int, Field(ge=1)] | None = None  # checked against the node's own when connecting
    deployment_file: UserPath | None = None
    keys: KeysConfig
    journal_path: UserPath = Path("~/.verinfer/journal.sqlite")
    journal_retention_s: Annotated[float, Field(ge=0)] = 7 * 86_400.0
    model_cache_dir: UserPath = Path("~/.verinfer/models")
    max_model_bytes: Positive = MAX_MODEL_BYTES
    fetch_timeout_s: PositiveSeconds = 30.0
    fetch_connect_timeout_s: PositiveSeconds = 10.0
    fetch_total_timeout_s: PositiveSeconds = 600.0
    fetch_min_bytes_per_s: Annotated[int, Field(ge=0)] = 16_384
    confirmations: Annotated[int, Field(ge=0, le=64)] = 2
    max_log_range: Annotated[int, Field(ge=1, le=10_000)] = 2_000
    poll_interval_s: PositiveSeconds = 2.0
    modes: Annotated[tuple[Mode, ...], BeforeValidator(_modes)] = SERVED_MODES
    batch: BatchConfig = BatchConfig()
    runner: RunnerConfig = RunnerConfig()
    sandbox: SandboxConfig = SandboxConfig()
    policy: PolicyConfig = PolicyConfig()
    metrics: MetricsConfig = MetricsConfig()
    registration: RegistrationConfig = RegistrationConfig()
    tx: TxConfig = TxConfig()
    zk: ZkConfig = ZkConfig()
    watch: WatchConfig = WatchConfig()

    @model_validator(mode="after")
    def _zk_needs_artifacts(self) -> NodeConfig:
        if Mode.ZK in self.modes and self.zk.artifacts_dir is None:
            raise PydanticCustomError(
                "zk", "modes includes ZK but zk.artifacts_dir is not set: point it at the ZK models' proving artifacts"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings  # env first: it overrides the file, which arrives as keyword arguments


def load_config(path: Path | None = None) -> NodeConfig:
    """Reads `path` (TOML; None for environment variables only), lets `VERINFER_*` variables override it, validates."""
    data = _read_toml(path) if path is not None else {}
    file_name = path.name if path is not None else DEFAULT_FILE_NAME
    try:
        return NodeConfig(**data)
    except ValidationError as exc:
        lines = [_describe(error, file_name) for error in exc.errors()]
        where = f" ({path})" if path is not None else ""
        # `from None`: pydantic's own text echoes every input, secrets included; these lines carry all it knows.
        raise ConfigError(f"invalid configuration{where}:\n  " + "\n  ".join(lines)) from None
    except SettingsError as exc:
        hint = "lists and whole sections take JSON"
        raise ConfigError(f"cannot read the {ENV_PREFIX}* environment variables: {exc} ({hint})") from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError as exc:
        raise ConfigError(f"no config file at {path}: create it or pass another path") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:  # its message names the line and column
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


# ---------------------------------------------------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------------------------------------------------


def _describe(error: ErrorDetails, file_name: str) -> str:
    """One line per bad field: `batch.max_items = 0: <problem>; allowed: <what>. Fix: <where>`."""
    loc = error["loc"]
    path = ".".join(str(part) for part in loc) or "(top level)"
    fields = [part for part in loc if isinstance(part, str)]
    line = path
    if error["type"] != "missing" and not isinstance(error["input"], dict):
        line += " = <hidden>" if SECRET_FIELDS.intersection(fields) else f" = {error['input']!r}"
    line += ": " + _problem(error)
    allowed = _known_fields(fields) if error["type"] == "extra_forbidden" else _allowed(fields)
    if allowed:
        line += f"; allowed: {allowed}"
    if fields:
        line += f". Fix: {_where(fields, file_name, error['type'])}"
    return line


def _problem(error: ErrorDetails) -> str:
    if error["type"] == "missing":
        return "required but not set"
    if error["type"] == "extra_forbidden":
        return "unknown field (check the spelling)"
    message = error["msg"].removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _field(fields: Sequence[str]) -> tuple[type[BaseModel], str] | None:
    """The model and the name of the field at `fields`, or None where no declared field lives."""
    model: type[BaseModel] = NodeConfig
    for depth, name in enumerate(fields):
        info = model.model_fields.get(name)
        if info is None:
            return None
        if depth == len(fields) - 1:
            return model, name
        nested = info.annotation
        if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
            return None
        model = nested
    return None


def _known_fields(fields: Sequence[str]) -> str:
    """The fields of the section holding the unknown field at `fields`."""
    parent = _field(fields[:-1])
    section = parent[0].model_fields[parent[1]].annotation if parent else NodeConfig
    if isinstance(section, type) and issubclass(section, BaseModel):
        return "the fields " + ", ".join(section.model_fields)
    return ""


def _allowed(fields: Sequence[str]) -> str:
    """What a declared field accepts, from its constraints, choices and examples ("" where nothing is declared)."""
    found = _field(fields)
    if found is None:
        return ""
    model, name = found
    info = model.model_fields[name]
    parts = []
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            parts.append(f">= {meta.ge}")
        elif isinstance(meta, annotated_types.Gt):
            parts.append(f"> {meta.gt}")
        elif isinstance(meta, annotated_types.Le):
            parts.append(f"<= {meta.le}")
    if typing.get_origin(info.annotation) is Literal:
        parts.append("one of " + ", ".join(map(str, typing.get_args(info.annotation))))
    if name == "models":
        parts.append('a list of 0x-prefixed 32-byte model ids, or ["all"]')
    if name == "modes":
        parts.append("a list of mode names from " + ", ".join(mode.name for mode in KNOWN_MODES))
    allowed = " and ".join(parts)
    if info.examples:
        allowed += ("" if not allowed else ", ") + "for example " + ", ".join(map(str, info.examples))
    return allowed


def _where(fields: Sequence[str], file_name: str, kind: str) -> str:
    env = ENV_PREFIX + ENV_DELIMITER.join(fields).upper()
    in_file = f"`{fields[-1]}` under [{'.'.join(fields[:-1])}]" if len(fields) > 1 else f"`{fields[0]}`"
    if kind == "extra_forbidden":
        return f"remove {in_file} from {file_name} (or unset {env})"
    found = _field(fields)
    section = found[0].model_fields[found[1]].annotation if found else None
    if isinstance(section, type) and issubclass(section, BaseModel):  # a whole section is wrong or missing
        variables = ", ".join(f"{env}{ENV_DELIMITER}{name.upper()}" for name in section.model_fields)
        return f"edit the [{'.'.join(fields)}] section of {file_name}, or set {variables}"
    source = " (it is set now, and wins over the file)" if env in os.environ else ""
    return f"set {env}{source} or {in_file} in {file_name}"
