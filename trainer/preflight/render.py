"""Rich tables of a preflight report: model facts, check verdicts and the memory breakdown."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from trainer.preflight.checks import format_bytes, format_int, format_params
from trainer.preflight.model_files import ESTIMATED_FROM_CONFIG, ModelFacts
from trainer.preflight.report import PreflightReport

VERDICT_STYLES = {"ok": "green", "warning": "yellow", "error": "bold red", "unchecked": "dim"}


def build_renderable(report: PreflightReport) -> Group:
    """Return the report as one rich renderable (for a terminal or a Textual widget)."""
    parts = [_models_table(report), _checks_table(report)]
    if report.memory is not None:
        parts.append(_memory_table(report))
    parts.append(_summary(report))
    return Group(*parts)


def render_report(report: PreflightReport, console: Console | None = None) -> None:
    """Print the report's tables to `console` (stdout by default)."""
    (console or Console()).print(build_renderable(report))


def _models_table(report: PreflightReport) -> Table:
    table = Table(title="Models", title_justify="left", expand=False)
    table.add_column("")
    roles = list(report.models)
    for role in roles:
        table.add_column(role, overflow="fold")
    rows = [
        ("path", lambda f: f.path or f.reference),
        ("architecture", lambda f: f.architecture),
        ("parameters", _parameters),
        ("dtype", lambda f: f.dtype),
        ("vocab_size", lambda f: format_int(f.vocab_size)),
        ("tokenizer size", lambda f: format_int(f.tokenizer.size)),
        ("eos token", lambda f: f.tokenizer.eos_token),
        ("pad token", lambda f: f.tokenizer.pad_token),
        ("pad == eos", lambda f: _yes_no(f.pad_equals_eos)),
        ("chat template", lambda f: f.tokenizer.chat_template_source or "none"),
        ("max positions", lambda f: format_int(f.max_position_embeddings)),
        ("remote code", lambda f: _yes_no(f.needs_remote_code if f.architecture else None)),
    ]
    for label, value in rows:
        table.add_row(label, *(_text(value(report.models[role])) for role in roles))
    return table


def _checks_table(report: PreflightReport) -> Table:
    table = Table(title="Checks", title_justify="left", expand=False)
    table.add_column("verdict")
    table.add_column("check", no_wrap=True)
    table.add_column("message", overflow="fold")
    for check in report.checks:
        table.add_row(Text(check.verdict, style=VERDICT_STYLES[check.verdict]), check.name, check.message)
    return table


def _memory_table(report: PreflightReport) -> Table:
    estimate = report.memory
    gpu = report.gpu
    capacity = f"{format_bytes(gpu.total_bytes)} on {gpu.name}" if gpu and gpu.total_bytes else "no GPU to compare with"
    table = Table(
        title=f"Memory estimate per GPU: peak {format_bytes(estimate.peak_bytes)} ({estimate.peak_phase}); {capacity}",
        title_justify="left",
        caption="; ".join(estimate.assumptions),
        caption_justify="left",
        expand=False,
    )
    table.add_column("item")
    table.add_column("phase")
    table.add_column("size", justify="right")
    table.add_column("note", overflow="fold")
    for item in estimate.items:
        table.add_row(item.name, item.phase, format_bytes(item.bytes), item.note)
    return table


def _summary(report: PreflightReport) -> Text:
    counts = {verdict: sum(1 for c in report.checks if c.verdict == verdict) for verdict in ("error", "warning", "unchecked")}
    words = [f"{count} {_plural(verdict, count)}" for verdict, count in counts.items() if count]
    outcome = {0: "ready to launch", 1: "launchable, read the warnings", 2: "blocked: fix the errors first"}[report.exit_code]
    summary = ", ".join(words) if words else "all checks ok"
    return Text(f"{summary}: {outcome} (exit {report.exit_code})", style=VERDICT_STYLES[report.status])


def _parameters(facts: ModelFacts) -> str:
    if facts.param_source == ESTIMATED_FROM_CONFIG:
        return f"{format_params(facts.param_count)} (estimate)"
    return format_params(facts.param_count)


def _plural(verdict: str, count: int) -> str:
    return f"{verdict}s" if count != 1 and verdict != "unchecked" else verdict


def _yes_no(value: bool | None) -> str:
    if value is None:
        return "unknown"
    return "yes" if value else "no"


def _text(value: object) -> str:
    return "unknown" if value is None else str(value)

