"""`atlas-train grade`: accuracy, the verdicts file and the errors on bad input."""

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from trainer.grade import main

REPO_ROOT = Path(__file__).resolve().parent.parent

RECORDS = [
    {"completion": "She earns 1,234 dollars.\n#### 1,234", "reference": "Half of it.\n#### 1234"},
    {"completion": "The answer is $1,250.", "reference": 1250},
    {"completion": "#### 5.5", "reference": "5"},
    {"completion": "I do not know.", "reference": "#### 7"},
]


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def completions(tmp_path):
    return _write_lines(tmp_path / "completions.jsonl", [json.dumps(record) for record in RECORDS])


def _read_verdicts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_grade_prints_accuracy(completions, capsys):
    assert main([str(completions)]) == 0
    assert capsys.readouterr().out == "accuracy 0.500 (2/4)\n"


def test_grade_writes_verdicts(completions, tmp_path, capsys):
    output = tmp_path / "verdicts.jsonl"
    assert main([str(completions), "--output", str(output)]) == 0
    verdicts = _read_verdicts(output)
    assert [verdict["index"] for verdict in verdicts] == [0, 1, 2, 3]
    assert [verdict["correct"] for verdict in verdicts] == [True, True, False, False]
    assert [verdict["extracted"] for verdict in verdicts] == [1234, 1250, "5.5", None]


def test_grade_extracted_round_trips(tmp_path, capsys):
    records = [{"completion": "#### 1/3", "reference": "1"}, {"completion": "#### -0.125", "reference": "1"}]
    source = _write_lines(tmp_path / "in.jsonl", [json.dumps(record) for record in records])
    output = tmp_path / "verdicts.jsonl"
    main([str(source), "--output", str(output)])
    extracted = [Fraction(verdict["extracted"]) for verdict in _read_verdicts(output)]
    assert extracted == [Fraction(1, 3), Fraction(-1, 8)]


def test_grade_skips_blank_lines(tmp_path, capsys):
    lines = ["", json.dumps(RECORDS[0]), "   ", json.dumps(RECORDS[2]), ""]
    source = _write_lines(tmp_path / "in.jsonl", lines)
    output = tmp_path / "verdicts.jsonl"
    assert main([str(source), "--output", str(output)]) == 0
    verdicts = _read_verdicts(output)
    assert [verdict["index"] for verdict in verdicts] == [0, 1]
    assert [verdict["line"] for verdict in verdicts] == [2, 4]
    assert capsys.readouterr().out == "accuracy 0.500 (1/2)\n"


def test_grade_json_number_reference(tmp_path, capsys):
    # A JSON number with a fraction part is read exactly, so 0.1 equals the completion's "0.1".
    lines = ['{"completion": "#### 0.1", "reference": 0.1}', '{"completion": "#### 18", "reference": 18.0}']
    source = _write_lines(tmp_path / "in.jsonl", lines)
    assert main([str(source)]) == 0
    assert capsys.readouterr().out == "accuracy 1.000 (2/2)\n"


def _grade_error(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def test_grade_missing_file(tmp_path, capsys):
    missing = tmp_path / "absent.jsonl"
    code, error = _grade_error([str(missing)], capsys)
    assert code == 2
    assert f"{missing}: file not found" in error


def test_grade_invalid_json(tmp_path, capsys):
    source = _write_lines(tmp_path / "in.jsonl", [json.dumps(RECORDS[0]), '{"completion": "#### 1",'])
    code, error = _grade_error([str(source)], capsys)
    assert code == 2
    assert f"{source}:2: invalid JSON" in error
    assert "Each line must be one JSON object" in error


@pytest.mark.parametrize("key", ["completion", "reference"])
def test_grade_missing_key(tmp_path, capsys, key):
    record = dict(RECORDS[0])
    del record[key]
    source = _write_lines(tmp_path / "in.jsonl", [json.dumps(RECORDS[1]), "", json.dumps(record)])
    code, error = _grade_error([str(source)], capsys)
    assert code == 2
    assert f"{source}:3: missing '{key}'" in error
    assert "needs both keys" in error


def test_grade_not_an_object(tmp_path, capsys):
    source = _write_lines(tmp_path / "in.jsonl", ['["#### 1", "1"]'])
    code, error = _grade_error([str(source)], capsys)
    assert code == 2
    assert f"{source}:1: expected a JSON object, got list" in error


@pytest.mark.parametrize(
    "reference",
    [pytest.param("no number", id="words"), pytest.param(True, id="bool"), pytest.param(None, id="null")],
)
def test_grade_bad_reference(tmp_path, capsys, reference):
    source = _write_lines(tmp_path / "in.jsonl", [json.dumps({"completion": "#### 1", "reference": reference})])
    code, error = _grade_error([str(source)], capsys)
    assert code == 2
    assert f"{source}:1: " in error
    assert "#### " in error


def test_grade_completion_not_string(tmp_path, capsys):
    source = _write_lines(tmp_path / "in.jsonl", [json.dumps({"completion": 42, "reference": "42"})])
    code, error = _grade_error([str(source)], capsys)
    assert code == 2
    assert f"{source}:1: 'completion' must be a string" in error


def test_grade_empty_file(tmp_path, capsys):
    source = _write_lines(tmp_path / "in.jsonl", ["", "  "])
    code, error = _grade_error([str(source)], capsys)
    assert code == 2
    assert f"{source}: no lines to grade" in error


def test_grade_output_is_input(completions, capsys):
    code, error = _grade_error([str(completions), "--output", str(completions)], capsys)
    assert code == 2
    assert "--output is the input file" in error
    assert len(_read_verdicts(completions)) == len(RECORDS)


def test_grade_output_folder_missing(completions, tmp_path, capsys):
    output = tmp_path / "absent" / "verdicts.jsonl"
    code, error = _grade_error([str(completions), "--output", str(output)], capsys)
    assert code == 2
    assert "failed to write the verdicts" in error


def test_grade_bad_input_writes_nothing(tmp_path, capsys):
    source = _write_lines(tmp_path / "in.jsonl", [json.dumps(RECORDS[0]), "not json"])
    output = tmp_path / "verdicts.jsonl"
    main([str(source), "--output", str(output)])
    assert not output.exists()


def test_grade_usage_error(capsys):
    code, error = _grade_error([], capsys)
    assert code == 2
    assert "usage: atlas-train grade" in error


def test_grade_subprocess(completions, tmp_path, python_bin):
    output = tmp_path / "verdicts.jsonl"
    result = subprocess.run(
        [python_bin, "-m", "trainer.grade", str(completions), "--output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    assert result.stdout == "accuracy 0.500 (2/4)\n"
    assert len(_read_verdicts(output)) == len(RECORDS)


def test_grade_subprocess_error(tmp_path, python_bin):
    missing = tmp_path / "absent.jsonl"
    result = subprocess.run(
        [python_bin, "-m", "trainer.grade", str(missing)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "file not found" in result.stderr


def test_grade_import_skips_torch(python_bin):
    # Grading needs no model, so `atlas-train grade` must start without the cost of loading torch.
    result = subprocess.run(
        [python_bin, "-c", "import sys, trainer.grade; print('torch' in sys.modules)"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"
