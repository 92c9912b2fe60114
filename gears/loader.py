"""Layer base ← gear ← demo profile ← config file ← key=value overrides ← flags into one config."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import tomli_w

from gears.schema import FIELDS, FIELDS_BY_NAME, SECTIONS

GEARS_DIR = Path(__file__).resolve().parent
GEAR_NAMES = ("diagnostic", "reliability")
# Names used by the reference command lines (`--config-name run/gkd_diagnostic`).
CONFIG_NAME_ALIASES = {
    "run/gkd_diagnostic": "diagnostic",
    "run/gkd_reliability": "reliability",
    "gkd_diagnostic": "diagnostic",
    "gkd_reliability": "reliability",
}
# A config resolved without a gear is labelled so in its run record.
CUSTOM_GEAR = "custom"


class ConfigError(ValueError):
    """A config value, key or file that cannot be used; the message names it and the fix."""


@dataclass
class ResolvedConfig:
    """A fully resolved config: every schema key with its value and the layer that set it."""

    gear: str
    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    demo: bool = False

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def diff(self, other: "ResolvedConfig") -> list[tuple[str, Any, Any]]:
        """List (key, this value, other value) for every key whose values differ, in schema order."""
        return [
            (f.name, self.values.get(f.name), other.values.get(f.name))
            for f in FIELDS
            if self.values.get(f.name) != other.values.get(f.name)
        ]

    def to_toml(self) -> str:
        """Render as TOML grouped by section, each key preceded by its meaning."""
        lines = [
            f"# atlas-console resolved config: gear {self.gear}" + (" + demo profile" if self.demo else ""),
            "# Layers: base <- gear <- demo profile <- --config file <- key=value overrides <- flags",
        ]
        for section in SECTIONS:
            lines.append("")
            lines.append(f"[{section}]")
            for f in FIELDS:
                if f.section != section:
                    continue
                source = self.sources.get(f.name, "base")
                lines.append(f"# {f.doc} ({f.describe_range()}; set by {source})")
                lines.append(tomli_w.dumps({f.name: self.values[f.name]}).strip())
        return "\n".join(lines) + "\n"


def resolve(
    gear: str | None = None,
    *,
    demo: bool = False,
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
    flags: Mapping[str, Any] | None = None,
) -> ResolvedConfig:
    """Resolve a config from its layers; raise ConfigError naming the first invalid key or value."""
    gear_name = normalize_gear_name(gear) if gear else (GEAR_NAMES[0] if demo else CUSTOM_GEAR)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    base = _flatten(_read_toml(GEARS_DIR / "base.toml"), "gears/base.toml")
    _apply(values, sources, base, "base")
    missing = [f.name for f in FIELDS if f.name not in values]
    if missing:
        raise ConfigError(f"gears/base.toml is missing keys {missing}; add a default for each")

    if gear_name != CUSTOM_GEAR:
        gear_table = _read_toml(GEARS_DIR / f"{gear_name}.toml")
        gear_table.pop("gear", None)
        _apply(values, sources, _flatten(gear_table, f"gears/{gear_name}.toml"), f"gear {gear_name}")

    if demo:
        demo_table = _read_toml(GEARS_DIR / "demo.toml")
        _apply(values, sources, _flatten(demo_table.get("common", {}), "gears/demo.toml [common]"), "demo profile")
        if gear_name in demo_table:
            label = f"gears/demo.toml [{gear_name}]"
            _apply(values, sources, _flatten(demo_table[gear_name], label), "demo profile")

    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}; pass an existing .toml file to --config")
        table = _read_toml(path)
        table.pop("gear", None)
        _apply(values, sources, _flatten(table, str(path)), f"config file {path.name}")

    for text in overrides:
        key, value = parse_override(text)
        _apply(values, sources, {key: value}, f"override '{text}'")

    if flags:
        _apply(values, sources, dict(flags), "flag")

    _check_consistency(values)
    return ResolvedConfig(gear=gear_name, values=values, sources=sources, demo=demo)


def normalize_gear_name(name: str) -> str:
    """Map a gear name or a `--config-name` alias to a gear; raise ConfigError for an unknown one."""
    cleaned = CONFIG_NAME_ALIASES.get(name, name)
    if cleaned not in GEAR_NAMES:
        choices = list(GEAR_NAMES) + list(CONFIG_NAME_ALIASES)
        hint = difflib.get_close_matches(name, choices, n=1, cutoff=0.4)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        raise ConfigError(f"unknown gear '{name}': use one of {', '.join(GEAR_NAMES)}{suggestion}")
    return cleaned


def gear_metadata(gear: str) -> dict[str, str]:
    """Return a gear's [gear] table: name, description and the gear it promotes to."""
    table = _read_toml(GEARS_DIR / f"{normalize_gear_name(gear)}.toml")
    return dict(table.get("gear", {}))


def parse_override(text: str) -> tuple[str, Any]:
    """Split `key=value` and read the value as TOML, else as a plain string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    raw = raw.strip()
    if not sep or not key:
        raise ConfigError(f"invalid override '{text}': write it as key=value, e.g. max_steps=6")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def _apply(values: dict[str, Any], sources: dict[str, str], layer: Mapping[str, Any], source: str) -> None:
    for dotted, value in layer.items():
        key = _check_key(dotted, source)
        spec = FIELDS_BY_NAME[key]
        if spec.type is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # `student=123` names a directory, not a number
        if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        problem = spec.check(value)
        if problem:
            raise ConfigError(f"invalid value for '{key}' (from {source}): {problem}")
        values[key] = value
        sources[key] = source


def _check_key(dotted: str, source: str) -> str:
    section, _, key = dotted.rpartition(".")
    spec = FIELDS_BY_NAME.get(key)
    if spec is None:
        hint = difflib.get_close_matches(key, list(FIELDS_BY_NAME), n=1, cutoff=0.5)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else "; `atlas-train --print-config` lists every key"
        raise ConfigError(f"unknown config key '{dotted}' (from {source}){suggestion}")
    if section and section != spec.section:
        raise ConfigError(f"config key '{key}' belongs to section [{spec.section}], not [{section}] (from {source})")
    return key


def _check_consistency(values: Mapping[str, Any]) -> None:
    if values["nodes"] > 1 and not values["main_address"]:
        raise ConfigError(
            f"nodes = {values['nodes']} needs main_address: set main_address=<rank-0 host> or nodes=1"
        )
    if values["node_rank"] >= values["nodes"]:
        raise ConfigError(f"node_rank = {values['node_rank']} must be below nodes = {values['nodes']}")


def _flatten(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in table.items():
        if isinstance(value, dict):
            if name not in SECTIONS:
                hint = difflib.get_close_matches(name, SECTIONS, n=1, cutoff=0.5)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else f"; sections are {', '.join(SECTIONS)}"
                raise ConfigError(f"unknown config section [{name}] in {source}{suggestion}")
            for key, inner in value.items():
                flat[f"{name}.{key}"] = inner
        else:
            flat[name] = value
    return flat


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"invalid TOML in {path}: {error}") from error
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
