"""The preflight report: per-model facts, check verdicts, the memory estimate and the exit code."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from trainer.preflight.gpu import GpuInfo
from trainer.preflight.memory import MemoryEstimate
from trainer.preflight.model_files import ModelFacts
from trainer.preflight.token_lengths import LengthStats

# "unchecked" marks a check that could not run here (no GPU, dataset not cached). It does not
# change the exit code, and its message names what is missing.
VERDICTS = ("ok", "warning", "error", "unchecked")
EXIT_OK = 0
EXIT_WARNINGS = 1
EXIT_ERRORS = 2


@dataclass(frozen=True)
class Check:
    """One check's verdict and a message that names the values and the fix."""

    name: str
    verdict: str
    message: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"invalid verdict {self.verdict!r}: use one of {', '.join(VERDICTS)}")


@dataclass
class PreflightReport:
    """Everything `atlas-train check` found about a student/teacher pair and a config."""

    models: dict[str, ModelFacts]
    checks: list[Check]
    memory: MemoryEstimate | None = None
    gpu: GpuInfo | None = None
    lengths: LengthStats | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """2 with any error, else 1 with any warning, else 0."""
        verdicts = {check.verdict for check in self.checks}
        if "error" in verdicts:
            return EXIT_ERRORS
        if "warning" in verdicts:
            return EXIT_WARNINGS
        return EXIT_OK

    @property
    def status(self) -> str:
        return {EXIT_OK: "ok", EXIT_WARNINGS: "warning", EXIT_ERRORS: "error"}[self.exit_code]

    def check(self, name: str) -> Check:
        """Return the check called `name`; raise KeyError listing the names when there is none."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check named {name!r}; checks are: {', '.join(c.name for c in self.checks)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "status": self.status,
            "models": {role: facts.to_dict() for role, facts in self.models.items()},
            "checks": [asdict(check) for check in self.checks],
            "memory": self.memory.to_dict() if self.memory else None,
            "gpu": self.gpu.to_dict() if self.gpu else None,
            "lengths": self.lengths.to_dict() if self.lengths else None,
            "config": self.config,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
