"""Gear definitions (TOML data) and the loader that layers them into one resolved config.

Imports neither torch nor transformers, so the console can load gears quickly.
"""

from gears.loader import (
    GEAR_NAMES,
    ConfigError,
    ResolvedConfig,
    gear_metadata,
    parse_override,
    resolve,
)
from gears.schema import FIELDS, FIELDS_BY_NAME, Field

__all__ = [
    "FIELDS",
    "FIELDS_BY_NAME",
    "GEAR_NAMES",
    "ConfigError",
    "Field",
    "ResolvedConfig",
    "gear_metadata",
    "parse_override",
    "resolve",
]
