"""`atlas-train`: run a gear, print its config, resume a run, grade outputs, check models, build the demo.

This module imports neither torch nor transformers; the training path imports them when it runs.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from typing import Any, Sequence

from gears import FIELDS, FIELDS_BY_NAME, GEAR_NAMES, ConfigError, resolve
from gears.loader import CONFIG_NAME_ALIASES, CUSTOM_GEAR, ResolvedConfig
from state.paths import RunIdError, RunPaths, new_run_id, resolve_runs_dir, validate_run_id
from state.promotion import PromotionError, check_parent
from state.record import RecordError, read_record
from state.resume import ResumeError, check_resumable
from trainer.preflight.locate import DEMO, ModelNotFoundError, check_local_reference

EXIT_USAGE = 2
SUBCOMMANDS = ("grade", "check", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="atlas-train",
        description=(
            "Run one gear of on-policy distillation (GKD) and write its run directory. "
            "Other commands: `atlas-train grade FILE.jsonl`, `atlas-train check --student S --teacher T`, "
            "`atlas-train demo build`."
        ),
        epilog=(
            "Config layers, later wins: gears/base.toml, the gear, the demo profile (--demo), --config FILE, "
            "key=value overrides, then flags. `--print-config` shows every key with its meaning."
        ),
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. max_steps=6 eval_steps=3")
    parser.add_argument("--gear", help=f"gear to run: {', '.join(GEAR_NAMES)} (none: the flags alone decide)")
    parser.add_argument(
        "--config-name",
        help=f"gear by reference name: {', '.join(name for name in CONFIG_NAME_ALIASES if name.startswith('run/'))}",
    )
    parser.add_argument("--config", metavar="FILE.toml", help="TOML file layered over the gear")
    parser.add_argument("--demo", action="store_true", help="built-in demo models and synthetic data, sized for a CPU")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as TOML and exit")
    parser.add_argument("--runs-dir", help="folder of run directories (default: $ATLAS_RUNS_DIR, else ./runs)")
    parser.add_argument("--run-id", help="name of the new run directory (default: generated)")
    parser.add_argument("--parent", metavar="RUN_ID", help="diagnostic run this run is promoted from")
    parser.add_argument("--resume", metavar="RUN_ID", help="continue RUN_ID from its last checkpoint with its config")
    group = parser.add_argument_group("config keys (each sets the key of the same name)")
    for field in FIELDS:
        flag = "--" + field.name.replace("_", "-")
        if field.type is bool:
            group.add_argument(flag, dest=f"key_{field.name}", action=argparse.BooleanOptionalAction, default=None, help=field.doc)
        else:
            group.add_argument(flag, dest=f"key_{field.name}", type=field.type, default=None, metavar=field.type.__name__.upper(), help=field.doc)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return _subcommand(argv[0], argv[1:])
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(_unknown_argument_message(parser, unknown[0]))
    try:
        return _train(args, argv)
    except (ConfigError, RunIdError, RecordError, ResumeError, PromotionError, ModelNotFoundError) as error:
        print(f"atlas-train: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _unknown_argument_message(parser: argparse.ArgumentParser, argument: str) -> str:
    """Return the error for an unknown argument, naming the closest flag and its key=value form."""
    flag = argument.split("=", 1)[0]
    known = [option for action in parser._actions for option in action.option_strings]
    matches = difflib.get_close_matches(flag.replace("_", "-"), known, n=1, cutoff=0.75)
    if not matches:
        return f"unrecognized argument {argument!r}; see atlas-train --help"
    key = matches[0].removeprefix("--").replace("-", "_")
    hint = f" or the override {key}=VALUE" if key in FIELDS_BY_NAME else ""
    return f"unrecognized argument {argument!r}; did you mean {matches[0]}{hint}?"


def resolve_from_args(args: argparse.Namespace) -> ResolvedConfig:
    """Resolve the config named by parsed arguments (gear, demo, file, overrides, flags)."""
    if args.gear and args.config_name:
        raise ConfigError("pass either --gear or --config-name, not both")
    flags: dict[str, Any] = {}
    for field in FIELDS:
        value = getattr(args, f"key_{field.name}")
        if value is not None:
            flags[field.name] = value
    return resolve(
        args.gear or args.config_name,
        demo=args.demo,
        config_file=args.config,
        overrides=args.overrides,
        flags=flags,
    )


def _train(args: argparse.Namespace, argv: list[str]) -> int:
    runs_dir = resolve_runs_dir(args.runs_dir)
    if args.resume:
        paths = RunPaths.of(runs_dir, args.resume)
        if not paths.record.exists():
            raise RunIdError(
                f"run {args.resume!r} not found in {runs_dir}; check the run id, or point --runs-dir "
                "(or ATLAS_RUNS_DIR) at the folder that holds it"
            )
        record = read_record(paths)
        from trainer import distributed

        if not distributed.launched_by_atlas():
            # Ranks started by the multi-process launcher resume a run their launcher just checked.
            check_resumable(paths, record)
        # The stored config wins over every layer, so the run continues exactly as it started.
        gear = record.gear if record.gear in GEAR_NAMES else None
        config = resolve(gear, demo=record.demo, flags=record.config)
        resume = distributed.launch_is_resume() if distributed.launched_by_atlas() else True
        return _start(config, paths, parent=record.parent, argv=argv, resume=resume)
    config = resolve_from_args(args)
    if args.print_config:
        sys.stdout.write(config.to_toml())
        return 0
    if args.run_id:
        run_id = validate_run_id(args.run_id)
    else:
        run_id = new_run_id("run" if config.gear == CUSTOM_GEAR else config.gear)
    paths = RunPaths.of(runs_dir, run_id)
    if paths.record.exists():
        raise RunIdError(f"run {run_id!r} already exists in {runs_dir}; pick another --run-id or use --resume {run_id}")
    if args.parent:
        check_parent(runs_dir, validate_run_id(args.parent), config.gear)
    for role in ("student", "teacher"):
        if config[role] != DEMO:
            check_local_reference(config[role], role)
    return _start(config, paths, parent=args.parent, argv=argv, resume=False)


def _start(config: ResolvedConfig, paths: RunPaths, *, parent: str | None, argv: list[str], resume: bool) -> int:
    from trainer import distributed

    if (config["processes"] > 1 or config["nodes"] > 1) and not distributed.launched_by_atlas():
        from trainer.launch import launch_distributed

        return launch_distributed(config, paths, argv=argv, resume=resume, parent=parent)
    from trainer.engine import RunRequest, run

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    request = RunRequest(config=config, paths=paths, parent=parent, command=("atlas-train", *argv), resume=resume)
    return run(request)


def _subcommand(name: str, argv: list[str]) -> int:
    if name == "grade":
        from trainer.grade import main as grade_main

        return grade_main(argv)
    if name == "check":
        from trainer.preflight.cli import main as check_main

        return check_main(argv)
    if argv[:1] == ["build"]:
        from trainer.demo import build_main

        return build_main(argv[1:])
    print("atlas-train: error: unknown demo command; use `atlas-train demo build [--seed N] [--profile full|mini] [--force] [--cache-dir DIR]`", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
