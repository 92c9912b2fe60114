"""Specification of the synthetic GSM8K-style problems behind the offline demo."""

import re
import subprocess
from pathlib import Path

import pytest

from trainer.synthetic import MAX_NUMBER, MAX_SOLUTION_CHARS, generate_problems, split_of

EQUATION = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")
FINAL_LINE = re.compile(r"^#### (\d+)$")


def _apply(left: int, operator: str, right: int) -> int:
    if operator == "+":
        return left + right
    if operator == "-":
        return left - right
    if operator == "*":
        return left * right
    assert left % right == 0, f"{left} / {right} is not an exact division"
    return left // right


def test_same_seed_same_problems():
    assert generate_problems(3, 50, "train") == generate_problems(3, 50, "train")


def test_different_seed_different_problems():
    assert generate_problems(3, 50, "train") != generate_problems(4, 50, "train")


def test_count_is_exact():
    assert len(generate_problems(0, 37, "test")) == 37


def test_problems_have_question_and_answer():
    for problem in generate_problems(0, 20, "train"):
        assert set(problem) == {"question", "answer"}


def test_no_duplicate_questions():
    questions = [p["question"] for p in generate_problems(0, 3000, "train")]
    assert len(set(questions)) == len(questions)


def test_train_and_test_disjoint():
    train = {p["question"] for p in generate_problems(0, 4000, "train")}
    test = {p["question"] for p in generate_problems(0, 1000, "test")}
    assert train.isdisjoint(test)


def test_disjoint_across_seeds():
    train = {p["question"] for p in generate_problems(1, 3000, "train")}
    test = {p["question"] for p in generate_problems(2, 500, "test")}
    assert train.isdisjoint(test)


def test_split_follows_question_text():
    for split in ("train", "test"):
        for problem in generate_problems(5, 200, split):
            assert split_of(problem["question"]) == split


@pytest.mark.parametrize("split", ["train", "test"])
def test_answer_arithmetic(split):
    for problem in generate_problems(0, 2000, split):
        answer = problem["answer"]
        lines = answer.split("\n")
        final = FINAL_LINE.match(lines[-1])
        assert final is not None, f"no final '#### N' line in {answer!r}"

        equations = EQUATION.findall(answer)
        assert 1 <= len(equations) <= 3, f"expected 1 to 3 steps in {answer!r}"
        for left, operator, right, result in equations:
            assert _apply(int(left), operator, int(right)) == int(result), f"wrong step in {answer!r}"

        assert int(final.group(1)) == int(equations[-1][3]), f"final answer is not the last result in {answer!r}"


def test_answers_non_negative():
    for problem in generate_problems(0, 2000, "train"):
        assert int(problem["answer"].rsplit("#### ", 1)[1]) >= 0


def test_numbers_at_most_max():
    for problem in generate_problems(0, 2000, "train"):
        numbers = [int(n) for n in re.findall(r"\d+", problem["question"] + problem["answer"])]
        assert max(numbers) <= MAX_NUMBER, problem


def test_solutions_at_most_max_length():
    for problem in generate_problems(0, 2000, "train"):
        assert len(problem["answer"]) <= MAX_SOLUTION_CHARS, problem


def test_every_step_count_occurs():
    counts = {len(EQUATION.findall(p["answer"])) for p in generate_problems(0, 500, "train")}
    assert counts == {1, 2, 3}


def test_every_operator_occurs():
    operators = {op for p in generate_problems(0, 500, "train") for _, op, _, _ in EQUATION.findall(p["answer"])}
    assert operators == {"+", "-", "*", "/"}


def test_bad_split_raises():
    with pytest.raises(ValueError, match="validation"):
        generate_problems(0, 10, "validation")


def test_negative_count_raises():
    with pytest.raises(ValueError, match="-1"):
        generate_problems(0, -1, "train")


def test_module_imports_no_torch(python_bin):
    code = "import sys, trainer.synthetic; print('torch' in sys.modules)"
    repo_root = Path(__file__).resolve().parent.parent
    completed = subprocess.run([python_bin, "-c", code], capture_output=True, text=True, check=True, cwd=repo_root)
    output = completed.stdout
    assert output.strip() == "False"
