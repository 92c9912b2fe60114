"""Multi-process runs: start the same trainer under `accelerate launch` and watch over its ranks.

This process stays the run's owner, and its pid is the run's pid. It writes every rank's output
to trainer.log with the rank prefix that torchrun adds (`[default0]:`) and forwards a stop to the
ranks. When a rank dies before the run could record its own end, it records the run as failed.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from gears import ResolvedConfig
from state.paths import RunPaths
from state.process import current_host
from state.record import ENDED_STATUSES, FAILED, PENDING, STOPPED, RunRecord, read_record, update_record, utc_now, write_record
from trainer.distributed import LAUNCHER_PID_ENV, RESUMED_ENV
from trainer.run_logging import setup_run_logging, stderr_is

logger = logging.getLogger(__name__)

# Backends that `accelerate` offers but that TRL's GKD trainer does not place the teacher for.
_UNSUPPORTED_BACKENDS = {
    "FSDP": (
        "TRL's GKD trainer prepares the teacher for DDP or DeepSpeed only, so an FSDP-sharded student would "
        "meet a teacher that is not sharded; use DeepSpeed ZeRO-3 (distributed_type: DEEPSPEED) or DDP"
    ),
    "MEGATRON_LM": "the GKD trainer has no Megatron-LM path; use DDP or DeepSpeed",
    "XLA": "the GKD trainer is not tested on TPUs; use a GPU machine with DDP or DeepSpeed",
}
_RANK_ERROR = re.compile(r"^\[default(\d+)\]:(.*(?:Error|Exception|error:).*)$")


class LaunchError(ValueError):
    """A multi-process launch that cannot work; the message names the setting and an alternative."""


def backend_of(config: ResolvedConfig) -> str:
    """Return the accelerate backend of the launch: MULTI_GPU (DDP) unless a config file sets another."""
    path = config["accelerate_config"]
    if not path:
        return "MULTI_GPU"
    file = Path(path).expanduser()
    if not file.is_file():
        raise LaunchError(f"accelerate_config file not found: {file}; pass an existing file or leave it empty for DDP")
    import yaml  # accelerate depends on PyYAML

    try:
        settings = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as error:
        raise LaunchError(f"invalid accelerate_config {file}: {error}") from error
    return str(settings.get("distributed_type", "MULTI_GPU")).upper()


def check_backend(config: ResolvedConfig) -> str:
    """Return the backend, or raise LaunchError naming it, why it is refused and what to use."""
    backend = backend_of(config)
    if backend in _UNSUPPORTED_BACKENDS:
        raise LaunchError(f"backend {backend} is not supported: {_UNSUPPORTED_BACKENDS[backend]}")
    if backend == "DEEPSPEED":
        try:
            import deepspeed  # noqa: F401
        except ImportError as error:
            raise LaunchError(
                "backend DEEPSPEED is not available: the deepspeed package is not installed; "
                "`pip install deepspeed` on a CUDA machine, or drop accelerate_config to use DDP"
            ) from error
    return backend


def build_launch_command(config: ResolvedConfig, paths: RunPaths, argv: list[str], resume: bool) -> list[str]:
    """Build the `accelerate launch` command that starts every rank of this run."""
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if config["accelerate_config"]:
        command += ["--config_file", str(Path(config["accelerate_config"]).expanduser())]
    else:
        # DDP; on a CPU-only machine the trainer selects gloo because it runs with use_cpu.
        command.append("--multi_gpu")
    mixed_precision = config["mixed_precision"]
    if mixed_precision == "auto":
        mixed_precision = "no"  # the trainer chooses bf16 itself when CUDA and `bf16` allow it
    command += [
        "--num_processes", str(config["processes"] * config["nodes"]),
        "--num_machines", str(config["nodes"]),
        "--machine_rank", str(config["node_rank"]),
        "--main_process_port", str(config["main_port"]),
        "--mixed_precision", mixed_precision,
        "--dynamo_backend", "no",
        "--tee", "3",
    ]
    if config["nodes"] > 1:
        command += ["--main_process_ip", config["main_address"]]
    command += ["-m", "trainer.cli", *_rank_arguments(paths, argv, resume)]
    return command


def _rank_arguments(paths: RunPaths, argv: list[str], resume: bool) -> list[str]:
    """Point the ranks at the run directory the launcher prepared (RESUMED_ENV marks a resume)."""
    return ["--runs-dir", str(paths.root.parent), "--resume", paths.run_id]


def launch_distributed(config: ResolvedConfig, paths: RunPaths, argv: list[str], resume: bool, parent: str | None = None) -> int:
    """Start the ranks, relay their output, and make sure the run record ends with a status."""
    setup_run_logging(paths.run_id, paths.log)
    try:
        backend = check_backend(config)
    except LaunchError as error:
        logger.error("%s", error)
        print(f"atlas-train: error: {error}", file=sys.stderr)
        return 2
    if config.demo or "demo" in (config["student"], config["teacher"]):
        # Build the demo models once here, not concurrently in every rank.
        from trainer.models import resolve_model_paths

        resolve_model_paths(config)

    command = build_launch_command(config, paths, argv, resume)
    _write_launch_record(config, paths, argv, command, resume, parent)
    logger.info("launching %d processes on %d node(s) with %s: %s", config["processes"], config["nodes"], backend, " ".join(command))

    env = dict(os.environ, **{LAUNCHER_PID_ENV: str(os.getpid()), RESUMED_ENV: "1" if resume else "0", "PYTHONUNBUFFERED": "1"})
    if config["cuda_visible_devices"]:
        env["CUDA_VISIBLE_DEVICES"] = config["cuda_visible_devices"]
    stop_requested: list[str] = []
    child = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def forward(signum, frame):
        stop_requested.append(signal.Signals(signum).name)
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    _relay_output(child, paths)
    exit_code = child.wait()
    return _finish_record(paths, exit_code, stopped=bool(stop_requested))


def _write_launch_record(config: ResolvedConfig, paths: RunPaths, argv: list[str], command: list[str], resume: bool, parent: str | None) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    if resume:
        record = read_record(paths)
        record.resumed += 1
        record.ended_at = record.exit_code = record.message = None
    else:
        record = RunRecord(id=paths.run_id, gear=config.gear, parent=parent, demo=config.demo, config=dict(config.values),
                           command=["atlas-train", *argv])
    record.status = PENDING
    record.pid = os.getpid()
    record.host = current_host()
    record.started_at = utc_now()
    record.launch_command = command
    record.cuda_visible_devices = config["cuda_visible_devices"] or os.environ.get("CUDA_VISIBLE_DEVICES")
    write_record(paths, record)


def _relay_output(child: subprocess.Popen, paths: RunPaths) -> None:
    """Copy the ranks' output to trainer.log and to this process's stderr, line by line."""
    to_file = not stderr_is(paths.log)
    with open(paths.log, "a", encoding="utf-8") as log:
        for line in child.stdout:
            if to_file:
                log.write(line)
                log.flush()
            sys.stderr.write(line)


def _finish_record(paths: RunPaths, exit_code: int, stopped: bool) -> int:
    record = read_record(paths)
    if record.status in ENDED_STATUSES and not (exit_code != 0 and record.status == STOPPED and not stopped):
        return exit_code if record.status != STOPPED else 0
    # A rank died: either before the run recorded an end, or the launcher stopped the healthy ranks
    # because another one failed (they then record `stopped` although no stop was requested).
    message = _last_rank_error(paths.log) or f"accelerate launch exited with code {exit_code}"
    logger.error("run %s failed: %s", paths.run_id, message)
    update_record(paths, status=FAILED, message=message, exit_code=exit_code or 1, ended_at=utc_now())
    return exit_code or 1


def _last_rank_error(log_path: Path) -> str | None:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        match = _RANK_ERROR.match(line)
        if match:
            return f"rank {match.group(1)}: {match.group(2).strip()}"[:500]
    return None

