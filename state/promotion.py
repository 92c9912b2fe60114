"""Promotion rules shared by the console and `atlas-train --parent`: which gear follows which, and when."""

from __future__ import annotations

from pathlib import Path

from gears import gear_metadata
from state.gate import GateResult, evaluate_run_gate
from state.paths import RunPaths
from state.record import FINISHED, RunRecord, read_record


def target_gear(record: RunRecord) -> str | None:
    """Return the gear `record`'s gear promotes to, or None when it promotes to none."""
    if record.gear not in ("diagnostic", "reliability"):
        return None
    return gear_metadata(record.gear).get("promotes_to") or None


def promotion_blockers(record: RunRecord | None, gate: GateResult | None) -> list[str]:
    """List why the run cannot be promoted now; an empty list means it can."""
    if record is None:
        return ["the run has not written run.toml yet"]
    if target_gear(record) is None:
        return [f"only diagnostic runs are promoted; this run's gear is {record.gear}"]
    if gate is None:
        return ["the gate has not been evaluated yet"]
    blockers = [criterion.line() for criterion in gate.failures]
    # A gear may waive require_finished, but a run still training cannot start its successor.
    if record.status != FINISHED and not any(c.name == "run finished" for c in gate.failures):
        blockers.insert(0, f"the run is {record.status}, not finished")
    return blockers


class PromotionError(ValueError):
    """A `--parent` run that the new run cannot follow; the message names the run and the fix."""


def check_parent(runs_dir: Path, parent_id: str, gear: str) -> None:
    """Raise PromotionError unless run `parent_id` exists, promotes to `gear` and passed its gate."""
    paths = RunPaths.of(runs_dir, parent_id)
    if not paths.record.exists():
        raise PromotionError(
            f"parent run {parent_id!r} not found in {runs_dir}; pass the id of a diagnostic run from "
            "that folder, or point --runs-dir (or ATLAS_RUNS_DIR) at the folder that holds it"
        )
    record = read_record(paths)
    target = target_gear(record)
    if target is not None and target != gear:
        raise PromotionError(f"parent run {parent_id!r} ({record.gear}) promotes to the {target} gear, not to {gear}; pass --gear {target}")
    blockers = promotion_blockers(record, evaluate_run_gate(paths))
    if blockers:
        raise PromotionError(f"parent run {parent_id!r} cannot be promoted: " + "; ".join(blockers))
