"""Promotion of a diagnostic run that passed its gate to a reliability run that carries its models and data."""

from __future__ import annotations

from typing import Iterable

from console.launcher import LaunchRequest, record_devices
from gears import ResolvedConfig, resolve
from state.promotion import target_gear
from state.record import RunRecord

# Keys a promoted run takes from its diagnostic run; everything else comes from the target gear.
CARRIED_KEYS = ("student", "teacher", "dataset_name")


def carried_flags(record: RunRecord) -> dict[str, str]:
    """Return the student, teacher and dataset the diagnostic run used (demo runs carry --demo instead)."""
    if record.demo:
        return {}
    return {key: record.config[key] for key in CARRIED_KEYS if record.config.get(key)}


def promoted_config(record: RunRecord, overrides: Iterable[str] = ()) -> ResolvedConfig:
    """Resolve the promoted run's config; raise gears.ConfigError for an invalid override."""
    gear = target_gear(record) or "reliability"
    return resolve(gear, demo=record.demo, overrides=list(overrides), flags=carried_flags(record))


def run_config(record: RunRecord) -> ResolvedConfig:
    """Wrap a run's recorded config so it can be diffed against a resolved one."""
    return ResolvedConfig(gear=record.gear, values=dict(record.config), demo=record.demo)


def promotion_request(record: RunRecord, overrides: Iterable[str] = ()) -> LaunchRequest:
    flags = carried_flags(record)
    devices = record_devices(record)
    return LaunchRequest(
        gear=target_gear(record) or "reliability",
        demo=record.demo,
        student=flags.get("student"),
        teacher=flags.get("teacher"),
        dataset_name=flags.get("dataset_name"),
        overrides=tuple(overrides),
        parent=record.id,
        cuda_visible_devices=devices if devices and devices != "all" else "",
    )
