"""W&B set-up: decide online or offline before `wandb.init`, and never let telemetry stop training."""

from __future__ import annotations

import logging
import netrc
import os
import socket
from pathlib import Path
from typing import Any, Mapping

logger = logging.getLogger(__name__)

WANDB_HOST = "api.wandb.ai"
# A reachability check must not stall the start of a run; W&B's own timeout is 90 s.
CONNECT_TIMEOUT_SECONDS = 3.0


def has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(WANDB_HOST) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def can_reach(host: str = WANDB_HOST, port: int = 443) -> bool:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False


def decide_mode(config: Mapping[str, Any]) -> tuple[str, str]:
    """Return (mode, reason): the W&B mode for this run, decided without prompting anyone."""
    if config["report_to"] != "wandb":
        return "disabled", "report_to is none"
    requested = os.environ.get("WANDB_MODE") or config["wandb_mode"]
    if requested != "auto":
        return requested, f"wandb_mode {requested}"
    if not has_api_key():
        return "offline", "no W&B API key found (WANDB_API_KEY or ~/.netrc)"
    if not can_reach():
        return "offline", f"{WANDB_HOST} is not reachable"
    return "online", "API key found and W&B reachable"


def start_wandb(config: Mapping[str, Any], run_id: str, run_dir: Path, gear: str, resume: bool) -> dict[str, Any]:
    """Start the W&B run in `run_dir/wandb`; return what the run record stores about it."""
    mode, reason = decide_mode(config)
    info: dict[str, Any] = {"mode": mode, "reason": reason}
    if mode == "disabled":
        return info
    os.environ["WANDB_MODE"] = mode
    os.environ["WANDB_SILENT"] = "true"
    os.environ.setdefault("WANDB_CONSOLE", "off")  # trainer.log already captures stdout and stderr
    try:
        import wandb

        run = wandb.init(
            project=config["wandb_project"],
            name=run_id,
            id=run_id,
            dir=str(run_dir),
            group=gear,
            config=dict(config),
            mode=mode,
            resume="allow" if resume else None,
            settings=wandb.Settings(init_timeout=30, silent=True),
        )
        run.define_metric("train/global_step")
        run.define_metric("*", step_metric="train/global_step", step_sync=True)
    except Exception as error:  # wandb raises its own and network errors; telemetry is optional
        logger.warning("W&B could not start (%s: %s); training continues without it", type(error).__name__, error)
        return {"mode": "disabled", "reason": f"wandb.init failed: {error}"}
    info["dir"] = str(run_dir / "wandb")
    info["run_path"] = f"{run.entity or 'offline'}/{run.project}/{run.id}" if mode == "online" else str(Path(run.dir).parent)
    if mode == "offline":
        info["sync_command"] = f"wandb sync {Path(run.dir).parent}"
    return info


def log_metrics(values: Mapping[str, Any], step: int) -> None:
    """Log `values` at `step` to the active W&B run, if any; failures are logged and ignored."""
    try:
        import wandb

        if wandb.run is not None:
            wandb.log({**values, "train/global_step": step})
    except Exception as error:  # telemetry must never stop training
        logger.warning("W&B log failed at step %d: %s", step, error)


def finish_wandb(exit_code: int = 0) -> None:
    try:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)
    except Exception as error:
        logger.warning("W&B finish failed: %s", error)
