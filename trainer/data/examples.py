"""The row types every data source is converted to."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


class DataError(ValueError):
    """A dataset that cannot be used; the message names the source, the row and the rule."""


@dataclass(frozen=True)
class Example:
    """One problem: chat turns ending with the assistant's reference solution.

    `reference` is the text whose final answer grades a completion (GSM8K: the solution ending in
    `#### N`); `reward` is set for runtime traces, which carry their own.
    """

    messages: tuple[dict[str, str], ...]
    reference: str
    reward: float | None = None

    @property
    def prompt_messages(self) -> list[dict[str, str]]:
        return [dict(message) for message in self.messages[:-1]]

    @property
    def key(self) -> str:
        """Stable hash of the prompt turns, used to cache rewards per prompt."""
        text = "\x1e".join(f"{m['role']}\x1f{m['content']}" for m in self.messages[:-1])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class TaskData:
    """Validated training and evaluation examples of one dataset, with row counts."""

    source: str
    train: list[Example]
    eval: list[Example]
    fingerprint: str
    skipped_rows: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
