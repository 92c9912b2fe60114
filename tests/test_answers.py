"""GSM8K answer matching: which number counts as the answer, and when it equals the reference."""

import json
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import pytest

from trainer.answers import extract_answer, format_answer, is_correct, parse_reference

REPO_ROOT = Path(__file__).resolve().parent.parent

# (completion, reference, correct?)
MATCH_CASES = [
    pytest.param("She earns 1,234 dollars.\n#### 1,234", "1234", True, id="hash-thousands"),
    pytest.param("The answer is $1,250.", "1,250", True, id="answer-is-dollars"),
    pytest.param("So he collects 72 eggs, which he sells.", "72", True, id="last-number"),
    pytest.param("Altogether \\boxed{9{,}500}.", "9500", True, id="boxed-latex-separator"),
    pytest.param("Answer: $18.00 per day.", "18", True, id="answer-colon-decimal"),
    pytest.param("#### 5.5", "5", False, id="decimal-differs"),
    pytest.param("The answer is -3.", "-3", True, id="negative"),
    pytest.param("The answer is 42. Check: 42 - 2 = 40.", "42", True, id="answer-is-beats-last"),
    pytest.param(
        "...so 26 eggs remain.\n#### 26\n\nQuestion: A farmer has 5 cows...\n#### 10",
        "26",
        True,
        id="first-hash-wins",
    ),
]


@pytest.mark.parametrize(("completion", "reference", "correct"), MATCH_CASES)
def test_is_correct_cases(completion, reference, correct):
    assert is_correct(completion, reference) is correct


# (completion, extracted value)
EXTRACT_CASES = [
    pytest.param("", None, id="empty"),
    pytest.param("I am not sure.", None, id="no-digits"),
    pytest.param("####", None, id="bare-marker"),
    pytest.param("The total is 12.\n####", 12, id="marker-without-number"),
    pytest.param("#### -7", -7, id="hash-negative"),
    pytest.param("#### **-7**", -7, id="hash-bold"),
    pytest.param("#### $1,000 in total", 1000, id="hash-dollars"),
    pytest.param("The price is 1,234.5", Fraction("1234.5"), id="thousands-and-decimal"),
    pytest.param("She won $1,000,000", 1_000_000, id="millions"),
    pytest.param("So he collects 72 eggs.", 72, id="sentence-end-period"),
    pytest.param("It costs 3.50.", Fraction("3.5"), id="decimal-sentence-end"),
    pytest.param("About 50% of them", 50, id="percent"),
    pytest.param("It is \u22123 degrees", -3, id="unicode-minus"),
    pytest.param("16-3-4=9", 9, id="hyphen-is-not-sign"),
    pytest.param("5 - 3 = 2", 2, id="spaced-subtraction"),
    pytest.param("The answer is 3/4.", Fraction(3, 4), id="ratio"),
    pytest.param("#### 8/2", 4, id="ratio-integral"),
    pytest.param("\\boxed{\\frac{3}{4}}", Fraction(3, 4), id="boxed-latex-fraction"),
    pytest.param("\\boxed{5 + 3 = 8}", 8, id="boxed-last-number"),
    pytest.param("\\boxed{7} then \\boxed{9}", 9, id="last-boxed"),
    pytest.param("The answer is 4. \\boxed{}", 4, id="empty-box-skipped"),
    pytest.param("So far 3 apples and \\boxed{12", 12, id="unclosed-box"),
    pytest.param("\\boxed{6}\n#### 7", 7, id="hash-beats-boxed"),
    pytest.param("The answer is 5. \\boxed{6}", 6, id="boxed-beats-answer-is"),
    pytest.param("The answer is 10. No, the answer is 12. 3 left.", 12, id="last-answer-is"),
    pytest.param("Final Answer: Janet makes $18 per day, 2 eggs", 18, id="answer-is-gap"),
    pytest.param("The answer is unclear. 5 apples and 7", 7, id="answer-is-stops-at-period"),
    pytest.param("ANSWER IS 8, not 9", 8, id="answer-is-any-case"),
    pytest.param("The answer is .5", Fraction(1, 2), id="leading-point"),
    pytest.param("Step x2 is done", None, id="digits-in-word"),
    pytest.param("#### " + "9" * 30, int("9" * 30), id="thirty-digits"),
    pytest.param("1" * 5000, None, id="digit-run-over-limit"),
    pytest.param("\\boxed{" * 50 + "7" + "}" * 50, 7, id="nested-boxes"),
]


@pytest.mark.parametrize(("completion", "expected"), EXTRACT_CASES)
def test_extract_answer_cases(completion, expected):
    assert extract_answer(completion) == expected


def test_extract_answer_is_exact():
    assert extract_answer("0.1") == Fraction(1, 10)


def test_unclosed_boxes_fast():
    # A model stuck in a loop can repeat "\\boxed{" until the token limit, and scanning for the
    # closing brace once per box would be quadratic in the number of repeats.
    started = time.perf_counter()
    assert extract_answer("So 4 \\boxed{" * 20_000) == 4
    assert time.perf_counter() - started < 2.0


def test_whole_decimal_matches_integer():
    assert is_correct("#### 5.0", "5")


def test_unparsable_reference_raises():
    with pytest.raises(ValueError, match="expected a GSM8K answer"):
        is_correct("#### 5", "five")


REFERENCE_CASES = [
    pytest.param("Janet sells 9 eggs.\n#### 1,234", 1234, id="solution-text"),
    pytest.param("#### -10", -10, id="negative"),
    pytest.param("72", 72, id="bare"),
    pytest.param(" $18.00 ", 18, id="bare-dollars"),
    pytest.param("1,000,000.", 1_000_000, id="bare-period"),
]


@pytest.mark.parametrize(("reference", "expected"), REFERENCE_CASES)
def test_parse_reference_cases(reference, expected):
    assert parse_reference(reference) == expected


@pytest.mark.parametrize(
    "reference",
    [
        pytest.param("no number here", id="words"),
        pytest.param("", id="empty"),
        pytest.param("She sold 5 eggs.\n####", id="marker-without-number"),
        pytest.param("#### 5 eggs", id="words-after-number"),
        pytest.param("5 eggs", id="bare-with-words"),
    ],
)
def test_parse_reference_rejects(reference):
    with pytest.raises(ValueError, match="'#### <number>' or a bare number"):
        parse_reference(reference)


def test_parse_reference_error_names_text():
    with pytest.raises(ValueError, match="'no number here'"):
        parse_reference("no number here")


def test_parse_reference_error_shortens_text():
    with pytest.raises(ValueError) as raised:
        parse_reference("word " * 200)
    assert len(str(raised.value)) < 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(42), 42),
        (Fraction(-7), -7),
        (Fraction(11, 2), "5.5"),
        (Fraction(-1, 8), "-0.125"),
        (Fraction(3, 40), "0.075"),
        (Fraction(1, 3), "1/3"),
    ],
)
def test_format_answer_cases(value, expected):
    assert format_answer(value) == expected


@pytest.mark.parametrize("value", [Fraction(11, 2), Fraction(-1, 8), Fraction(1, 3), Fraction(10**30 + 1, 1000)])
def test_format_answer_round_trips(value):
    assert Fraction(json.loads(json.dumps(format_answer(value)))) == value


def test_import_skips_torch(python_bin):
    # Light entry points such as `atlas-train grade` use the matcher, so it must not load torch.
    result = subprocess.run(
        [python_bin, "-c", "import sys, trainer.answers; print('torch' in sys.modules)"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"


def _gsm8k_answers(gsm8k_dir):
    for split in ("train", "test"):
        with open(gsm8k_dir / f"{split}.jsonl", encoding="utf-8") as rows:
            for number, line in enumerate(rows, start=1):
                yield f"{split}.jsonl:{number}", json.loads(line)["answer"]


@pytest.mark.gsm8k
def test_gsm8k_references_parse(gsm8k_dir):
    failures = []
    count = 0
    for where, answer in _gsm8k_answers(gsm8k_dir):
        count += 1
        try:
            parse_reference(answer)
        except ValueError as error:
            failures.append(f"{where}: {error}")
    assert count > 8000
    assert failures == []


@pytest.mark.gsm8k
def test_gsm8k_answers_match_themselves(gsm8k_dir):
    failures = [where for where, answer in _gsm8k_answers(gsm8k_dir) if not is_correct(answer, answer)]
    assert failures == []
