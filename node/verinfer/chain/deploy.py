"""Deploys the system (ModelRegistry, NodeRegistry, InferenceHub), wires the hub into both registries, hands all three
to a Timelock (proposer: the deployer), and records the deployment in `deployments/<chainId>.json` at the repository
root, which `load_deployment` reads back. Owner actions afterwards go through `verinfer.chain.governance`.

    verinfer deploy --rpc-url http://127.0.0.1:8545 --private-key 0x...

A raw private key is accepted on devnets only (chain ids 31337 and 1337).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.types import TxReceipt

from verinfer.chain.artifacts import find_repo_root, load_artifact
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.tx import TxSender, connect
from verinfer.errors import ChainError, ConfigError
from verinfer.keys import DEVNET_CHAIN_IDS, devnet_account
from verinfer.types import (
    DEVNET_TIMELOCK_DELAY,
    PRODUCTION_TIMELOCK_DELAY,
    DeployConfig,
    DeployedContract,
    Deployment,
    HubParams,
)

__all__ = [  # DeployConfig lives in verinfer.types (the CLI reads its defaults without loading web3); re-exported here
    "ENV_DEPLOYMENTS",
    "DeployConfig",
    "deploy",
    "deploy_to",
    "deployment_path",
    "deployments_dir",
    "from_json",
    "load_deployment",
    "save_deployment",
    "timelock_delay_for",
    "to_json",
]

ENV_DEPLOYMENTS = "VERINFER_DEPLOYMENTS"


def timelock_delay_for(chain_id: int, config: DeployConfig) -> int:
    """The configured timelock delay, or the default for the chain (short on devnets, 2 days elsewhere)."""
    if config.timelock_delay is not None:
        return config.timelock_delay
    return DEVNET_TIMELOCK_DELAY if chain_id in DEVNET_CHAIN_IDS else PRODUCTION_TIMELOCK_DELAY


def deploy(sender: TxSender, config: DeployConfig | None = None) -> Deployment:
    """Deploys and wires the three contracts from `sender`'s account, then hands them to a new Timelock whose proposer
    is that account; returns where they live."""
    config = config or DeployConfig()
    owner = sender.address
    chain_id = int(sender.w3.eth.chain_id)
    delay = timelock_delay_for(chain_id, config)
    models, models_receipt = sender.deploy(load_artifact("ModelRegistry"), owner)
    nodes, nodes_receipt = sender.deploy(load_artifact("NodeRegistry"), owner, config.min_stake, config.unbonding_delay)
    hub, hub_receipt = sender.deploy(
        load_artifact("InferenceHub"), owner, models.address, nodes.address, config.hub_params.as_abi()
    )
    sender.send(nodes.functions.setHub(hub.address))
    sender.send(models.functions.setHub(hub.address))
    # Challenges of SINGLE results: the hub and the node registry each accept the dispute contract once.
    disputes, disputes_receipt = sender.deploy(load_artifact("Disputes"), hub.address, config.dispute_min_bond)
    sender.send(hub.functions.setDisputes(disputes.address))
    sender.send(nodes.functions.setDisputes(disputes.address))
    # From here on every owner action is delayed and public: the timelock owns all three (two-step, so the handover
    # of each is complete only once the timelock accepted it).
    timelock, timelock_receipt = sender.deploy(load_artifact("Timelock"), owner, delay)
    for contract in (hub, models, nodes):
        sender.send(contract.functions.transferOwnership(timelock.address))
        sender.send(timelock.functions.acceptOwnership(contract.address))

    return Deployment(
        chain_id=chain_id,
        deployer=sender.address,
        model_registry=_deployed(models_receipt),
        node_registry=_deployed(nodes_receipt),
        hub=_deployed(hub_receipt),
        hub_params=config.hub_params,
        min_stake=config.min_stake,
        unbonding_delay=config.unbonding_delay,
        timelock=_deployed(timelock_receipt),
        timelock_delay=delay,
        disputes=_deployed(disputes_receipt),
    )


def _deployed(receipt: TxReceipt) -> DeployedContract:
    address = receipt["contractAddress"]
    if address is None:
        raise ChainError(f"transaction {receipt['transactionHash'].to_0x_hex()} created no contract")
    return DeployedContract(
        address=to_checksum_address(address),
        block=int(receipt["blockNumber"]),
        tx_hash=receipt["transactionHash"].to_0x_hex(),
    )


# ---------------------------------------------------------------------------------------------------------------------
# The deployments file
# ---------------------------------------------------------------------------------------------------------------------


def deployments_dir() -> Path:
    """`$VERINFER_DEPLOYMENTS`, else `deployments/` at the repository root."""
    override = os.environ.get(ENV_DEPLOYMENTS)
    if override:
        return Path(override)
    root = find_repo_root()
    if root is None:
        raise ConfigError(
            f"cannot find the repository root (no foundry.toml above {Path.cwd()}); set {ENV_DEPLOYMENTS}"
        )
    return root / "deployments"


def deployment_path(chain_id: int) -> Path:
    return deployments_dir() / f"{chain_id}.json"


def to_json(deployment: Deployment) -> dict[str, Any]:
    contracts = {
        "ModelRegistry": _contract_json(deployment.model_registry),
        "NodeRegistry": _contract_json(deployment.node_registry),
        "InferenceHub": _contract_json(deployment.hub),
    }
    if deployment.timelock is not None:
        contracts["Timelock"] = _contract_json(deployment.timelock)
    if deployment.disputes is not None:
        contracts["Disputes"] = _contract_json(deployment.disputes)
    return {
        "chainId": deployment.chain_id,
        "deployer": deployment.deployer,
        "contracts": contracts,
        "params": {
            "minStake": str(deployment.min_stake),
            "unbondingDelay": deployment.unbonding_delay,
            "timelockDelay": deployment.timelock_delay,
            "hub": {_camel(k): v for k, v in asdict(deployment.hub_params).items()},
        },
    }


def _contract_json(c: DeployedContract) -> dict[str, Any]:
    return {"address": c.address, "block": c.block, "txHash": c.tx_hash}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def from_json(raw: dict[str, Any]) -> Deployment:
    contracts = raw["contracts"]
    params = raw["params"]
    hub_params = HubParams(**{k: int(params["hub"][_camel(k)]) for k in asdict(HubParams())})
    return Deployment(
        chain_id=int(raw["chainId"]),
        deployer=to_checksum_address(raw["deployer"]),
        model_registry=_contract_from_json(contracts["ModelRegistry"]),
        node_registry=_contract_from_json(contracts["NodeRegistry"]),
        hub=_contract_from_json(contracts["InferenceHub"]),
        hub_params=hub_params,
        min_stake=int(params["minStake"]),
        unbonding_delay=int(params["unbondingDelay"]),
        # Files written before the timelock existed have neither.
        timelock=_contract_from_json(contracts["Timelock"]) if "Timelock" in contracts else None,
        timelock_delay=int(params.get("timelockDelay", 0)),
        disputes=_contract_from_json(contracts["Disputes"]) if "Disputes" in contracts else None,
    )


def _contract_from_json(raw: dict[str, Any]) -> DeployedContract:
    return DeployedContract(address=to_checksum_address(raw["address"]), block=int(raw["block"]), tx_hash=raw["txHash"])


def save_deployment(deployment: Deployment, path: Path | None = None) -> Path:
    """Writes the deployment (atomically) to `path`, default `deployments/<chainId>.json`; returns the path."""
    path = path or deployment_path(deployment.chain_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(to_json(deployment), indent=2) + "\n")
    tmp.replace(path)
    return path


def load_deployment(chain_id: int | None = None, path: Path | None = None) -> Deployment:
    """Reads a deployment written by `save_deployment`, from `path` or `deployments/<chain_id>.json`."""
    if path is None:
        if chain_id is None:
            raise ConfigError("load_deployment needs a chain id or a path")
        path = deployment_path(chain_id)
    try:
        raw = json.loads(path.read_text())
        deployment = from_json(raw)
    except FileNotFoundError as exc:
        raise ConfigError(f"no deployment at {path}: deploy first with `verinfer deploy`") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"deployment file {path} is unreadable: {exc}") from exc
    if chain_id is not None and deployment.chain_id != chain_id:
        raise ConfigError(f"deployment file {path} is for chain {deployment.chain_id}, not {chain_id}")
    return deployment


# ---------------------------------------------------------------------------------------------------------------------
# What `verinfer deploy` runs
# ---------------------------------------------------------------------------------------------------------------------


def deploy_to(
    rpc_url: str,
    private_key: str,
    config: DeployConfig | None = None,
    out: Path | None = None,
) -> tuple[Deployment, Path]:
    """Connects, checks the key is allowed on this chain, deploys and saves; returns the deployment and its file."""
    w3: Web3 = connect(rpc_url)
    account = devnet_account(private_key, w3.eth.chain_id)
    sender = TxSender(w3, account, RevertDecoder.for_system())
    deployment = deploy(sender, config)
    return deployment, save_deployment(deployment, out)
