"""The promotion gate of a run: each criterion with ✓/✗ and its evidence, and the Promote button."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Static

from state.gate import GateResult


class GatePanel(Vertical):
    DEFAULT_CSS = """
    GatePanel { height: auto; border: round $secondary; padding: 0 1; }
    GatePanel #gate-verdict { text-style: bold; }
    GatePanel #gate-verdict.-pass { color: $success; }
    GatePanel #gate-verdict.-fail { color: $error; }
    GatePanel .criterion-pass { color: $success; }
    GatePanel .criterion-fail { color: $error; }
    GatePanel Button { margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        self.border_title = "Promotion gate"
        yield Static("gate: waiting for the run record", id="gate-verdict")
        yield Static("", id="gate-criteria")
        yield Button("Promote (p)", id="promote", variant="success", disabled=True, compact=True)

    def show_gate(self, gate: GateResult | None, note: str, target_gear: str | None, promotable: bool) -> None:
        """Show the verdict; the Promote button is shown only where a target gear exists."""
        # Each update re-lays the screen out, so an unchanged verdict is not redrawn.
        gate_state = (gate, note, target_gear, promotable)
        if gate_state == getattr(self, "_gate_drawn", None):
            return
        self._gate_drawn = gate_state
        verdict = self.query_one("#gate-verdict", Static)
        verdict.set_class(gate is not None and gate.passed, "-pass")
        verdict.set_class(gate is not None and not gate.passed, "-fail")
        verdict.update(note)
        lines = Text()
        for criterion in gate.criteria if gate else ():
            if lines:
                lines.append("\n")
            lines.append(criterion.line(), style="green" if criterion.passed else "red")
        self.query_one("#gate-criteria", Static).update(lines)
        button = self.query_one("#promote", Button)
        button.display = target_gear is not None
        button.label = f"Promote to {target_gear} (p)" if target_gear else "Promote (p)"
        button.disabled = not promotable
