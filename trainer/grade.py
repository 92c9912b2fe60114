"""`atlas-train grade`: score saved completions against GSM8K references outside a run.

Each input line is a JSON object with `completion` (the model's text) and `reference` (a GSM8K answer
ending in `#### N`, a bare number as a string, or a JSON number). The matcher is the one the trainer
uses, trainer.answers.
"""

import argparse
import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from trainer.answers import extract_answer, format_answer, parse_reference

_EXAMPLE_LINE = '{"completion": "... #### 42", "reference": "#### 42"}'


class GradeInputError(Exception):
    """Invalid grade input. The message names the file, the line and the fix."""


@dataclass(frozen=True)
class Verdict:
    """The grade of one input line."""

    index: int  # position among the non-blank lines, from 0
    line: int  # line number in the input file, from 1
    correct: bool
    extracted: Fraction | None


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="atlas-train grade",
        description="Score completions against GSM8K references and print the accuracy.",
    )
    parser.add_argument(
        "input",
        type=Path,
        metavar="FILE.jsonl",
        help=f"JSON Lines file, one object per line such as {_EXAMPLE_LINE}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="VERDICTS.jsonl",
        help="file to write the verdicts to, one JSON line per graded line with index, line, correct and extracted",
    )
    return parser


def _reference_value(reference: object, where: str) -> Fraction:
    if isinstance(reference, str):
        try:
            return parse_reference(reference)
        except ValueError as error:
            raise GradeInputError(f"{where}: {error}") from None

    # bool is a subclass of int, so JSON true/false is rejected here instead of being read as 1 or 0.
    if isinstance(reference, int) and not isinstance(reference, bool):
        return Fraction(reference)
    if isinstance(reference, Decimal) and reference.is_finite():
        return Fraction(reference)
    raise GradeInputError(
        f"{where}: 'reference' must be a string or a finite number, got {json.dumps(reference)}. "
        f"Write it as \"#### 42\" or 42"
    )


def _grade_line(text: str, index: int, line: int, where: str) -> Verdict:
    try:
        # Decimal keeps a JSON reference such as 0.1 exact, where float would not.
        record = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise GradeInputError(
            f"{where}: invalid JSON ({error.msg} at column {error.colno}). "
            f"Each line must be one JSON object such as {_EXAMPLE_LINE}"
        ) from None
    if not isinstance(record, dict):
        raise GradeInputError(
            f"{where}: expected a JSON object, got {type(record).__name__}. Write the line as {_EXAMPLE_LINE}"
        )

    for key in ("completion", "reference"):
        if key not in record:
            raise GradeInputError(f"{where}: missing '{key}'. Each line needs both keys, as in {_EXAMPLE_LINE}")
    completion = record["completion"]
    if not isinstance(completion, str):
        raise GradeInputError(
            f"{where}: 'completion' must be a string, got {type(completion).__name__}. "
            f"Store the model's text as a JSON string"
        )

    expected = _reference_value(record["reference"], where)
    extracted = extract_answer(completion)
    return Verdict(index=index, line=line, correct=extracted == expected, extracted=extracted)


def grade_file(path: Path) -> list[Verdict]:
    """Grade every non-blank line of a JSON Lines file.

    Raises GradeInputError on the first bad line, or when the file is missing, unreadable or empty.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GradeInputError(f"{path}: file not found. Pass the path of a JSON Lines file of completions") from None
    except (OSError, UnicodeDecodeError) as error:
        raise GradeInputError(f"{path}: failed to read the file ({error}). Pass a readable UTF-8 JSON Lines file") from None

    verdicts = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        verdicts.append(_grade_line(raw, index=len(verdicts), line=line, where=f"{path}:{line}"))
    if not verdicts:
        raise GradeInputError(f"{path}: no lines to grade. Write one JSON object per line such as {_EXAMPLE_LINE}")
    return verdicts


def _write_verdicts(verdicts: list[Verdict], path: Path) -> None:
    rows = []
    for verdict in verdicts:
        extracted = None if verdict.extracted is None else format_answer(verdict.extracted)
        row = {"index": verdict.index, "line": verdict.line, "correct": verdict.correct, "extracted": extracted}
        rows.append(json.dumps(row) + "\n")
    try:
        path.write_text("".join(rows), encoding="utf-8")
    except OSError as error:
        raise GradeInputError(
            f"{path}: failed to write the verdicts ({error}). Pass an --output path in an existing, writable folder"
        ) from None


def main(argv: list[str]) -> int:
    """Run `atlas-train grade` with the arguments after `grade` and return the exit code, 2 on bad input."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        # argparse has already printed the usage error or the help text.
        return int(exit_request.code or 0)

    try:
        if args.output is not None and args.output.resolve() == args.input.resolve():
            raise GradeInputError(f"{args.output}: --output is the input file. Choose another path for the verdicts")
        verdicts = grade_file(args.input)
        if args.output is not None:
            _write_verdicts(verdicts, args.output)
    except GradeInputError as error:
        print(f"atlas-train grade: error: {error}", file=sys.stderr)
        return 2

    correct = sum(verdict.correct for verdict in verdicts)
    print(f"accuracy {correct / len(verdicts):.3f} ({correct}/{len(verdicts)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
