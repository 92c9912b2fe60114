"""From the console: launch a real tiny diagnostic run, watch it finish, promote it, compare the two gears."""

import time

import pytest
from textual.widgets import Checkbox, DataTable, Input

from console.app import AtlasConsole
from console.screens.compare import CompareScreen
from console.screens.launch import LaunchScreen
from console.screens.monitor import MonitorScreen
from console.screens.promote import PromoteScreen
from state.record import FINISHED

pytestmark = pytest.mark.slow

# Small enough for a CPU in seconds; the same settings as the trainer's own end-to-end tests.
TINY = "max_steps={steps} eval_steps=3 eval_sample_size=8 reward_samples=2 train_limit=16 min_reward=0.0 max_new_tokens=12 save_steps=3 report_to=none"


async def wait_for(pilot, condition, timeout, description):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {description}"
        await pilot.pause(0.2)


def run_ended(app):
    screen = app.screen
    return isinstance(screen, MonitorScreen) and screen.view is not None and screen.view.record is not None and screen.view.record.ended


async def test_launch_promote_compare(tiny_pair, tiny_gsm8k, tmp_path):
    student, teacher = tiny_pair
    runs_dir = tmp_path / "runs"
    (tmp_path / "hub").mkdir()
    app = AtlasConsole(runs_dir, poll_interval=0.2, monitor_interval=0.2, hub_cache_dir=tmp_path / "hub")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.focused is not None, 5, "the launch screen")
        launch = app.screen
        if launch.query_one("#demo", Checkbox).value:
            await pilot.press("ctrl+o")
        launch.query_one("#student", Input).value = str(student)
        launch.query_one("#teacher", Input).value = str(teacher)
        launch.query_one("#dataset", Input).value = str(tiny_gsm8k)
        launch.query_one("#overrides", Input).value = TINY.format(steps=6)
        await pilot.pause()
        assert launch.error is None

        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: launch.preflight is not None, 60, "the model check")
        assert launch.preflight.blocks_launch is False

        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        diagnostic_id = app.screen.run_id
        await wait_for(pilot, lambda: run_ended(app), 240, "the diagnostic run to end")
        assert app.screen.view.record.status == FINISHED
        await wait_for(pilot, lambda: app.screen.view.gate is not None, 10, "the gate")
        assert app.screen.view.gate.passed, [c.line() for c in app.screen.view.gate.failures]

        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PromoteScreen) and app.focused is not None, 5, "the promotion screen")
        app.screen.query_one("#promote-overrides", Input).value = TINY.format(steps=3)
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.run_id != diagnostic_id, 10, "the promoted run"
        )
        await wait_for(pilot, lambda: run_ended(app), 240, "the reliability run to end")
        record = app.screen.view.record
        assert record.status == FINISHED
        assert record.gear == "reliability"
        assert record.parent == diagnostic_id
        assert record.config["student"] == str(student)

        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None, 5, "the comparison")
        table = app.screen.query_one("#compare", DataTable)
        cells = [table.get_row_at(row) for row in range(table.row_count)]
        assert all(cell not in ("", "–") for row in cells for cell in row[1:]), cells
        await pilot.press("e")
    assert (runs_dir / f"compare-{diagnostic_id}.md").is_file()
