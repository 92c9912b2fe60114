"""`atlas-train check`: preflight a student/teacher pair from their files, without loading weights.

Exit code 0: every check passed; 1: warnings only; 2: at least one blocking error (or an invalid
config). Also runs as `python -m trainer.preflight.cli`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from gears import GEAR_NAMES, ConfigError, resolve
from trainer.preflight.gpu import GpuInfo
from trainer.preflight.pair import check_pair
from trainer.preflight.render import render_report
from trainer.preflight.report import EXIT_ERRORS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="atlas-train check",
        description="Check a student/teacher pair for GKD from config.json, tokenizer files and safetensors "
        "headers: tokenizer match, chat template, context length and whether the run fits the GPU.",
    )
    parser.add_argument("--student", help="student model: local directory, Hugging Face model id, or 'demo' (default: the config's)")
    parser.add_argument("--teacher", help="teacher model: local directory, Hugging Face model id, or 'demo' (default: the config's)")
    parser.add_argument("--gear", help=f"gear whose settings to check against: {', '.join(GEAR_NAMES)}")
    parser.add_argument("--demo", action="store_true", help="layer the demo profile (demo models, synthetic data)")
    parser.add_argument("--config", metavar="FILE", help="TOML config file layered over the gear")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    parser.add_argument(
        "--gpu-memory-gib",
        type=_positive_float,
        metavar="N",
        help="compare the memory estimate with a GPU of N GiB instead of the detected one",
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. max_new_tokens=512")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the check and print the report; return the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    # Show this package's progress lines (e.g. a Hub download) without other libraries' INFO lines.
    logging.getLogger("trainer.preflight").setLevel(logging.INFO)
    flags = {name: value for name, value in (("student", args.student), ("teacher", args.teacher)) if value}
    try:
        config = resolve(args.gear, demo=args.demo, config_file=args.config, overrides=args.overrides, flags=flags)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERRORS

    gpu = GpuInfo.from_gib(args.gpu_memory_gib) if args.gpu_memory_gib else None
    report = check_pair(config["student"], config["teacher"], config, gpu=gpu)
    if args.json:
        print(report.to_json())
    else:
        render_report(report)
    return report.exit_code


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}: pass the GPU memory in GiB, e.g. 80") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"invalid GPU memory {text!r}: pass a positive number of GiB, e.g. 80")
    return value


if __name__ == "__main__":
    sys.exit(main())
