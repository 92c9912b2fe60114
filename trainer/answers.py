"""GSM8K answer matching: read the final number from a completion and compare it with the reference.

Values are exact `Fraction`s, never floats, so 5.0 equals 5, 5.5 differs from 5 and 1,234.5 stays
exact. The rules, their order and the test cases are documented in docs/answer-matching.md.
"""

import bisect
import re
from fractions import Fraction

__all__ = ["extract_answer", "format_answer", "is_correct", "parse_reference"]

# One number as models and GSM8K write it. The lookbehind keeps digits glued to a word ("x2"), to a
# decimal point or to a slash from starting a number, and it lets "16-3" read as 16 and 3, not -3.
# Thousands separators may be "," (1,234), LaTeX "{,}" (9{,}500) or a LaTeX thin space "\,".
# A trailing "/N" makes a fraction, so "3/4" is 0.75 and "8/2" equals 4.
# Each part has at most 30 digits (10 thousands groups), far above any GSM8K answer. A longer run of
# digits is not read at all, which keeps int() below Python's 4300-digit limit on degenerate output.
_NUMBER = r"""
    (?<![\w./])
    (?P<sign>[-\u2212])?
    (?:\\?\$\s?)?
    (?:
        (?P<int>
            \d{1,3}(?:(?:,|\{,\}|\\,)\d{3}){1,10}(?!\d|(?:,|\{,\}|\\,)\d)
            |
            \d{1,30}(?!\d)
        )
        (?:\.(?P<frac>\d{1,30})(?!\d))?
        |
        \.(?P<bare_frac>\d{1,30})(?!\d)
    )
    (?:/(?P<den>[1-9]\d{0,29})(?!\d|\.\d))?
"""
_NUMBER_RE = re.compile(_NUMBER, re.VERBOSE)

# "#### 42", allowing spaces or markdown bold between the marker and the number. The "#" signs are
# escaped because "#" starts a comment in a verbose pattern.
_HASH_RE = re.compile(r"\#\#\#\#[ \t*_]*" + _NUMBER, re.VERBOSE)

# "The answer is 42", "Final answer: $18", "answer = -3". Up to 30 characters may sit between the
# phrase and the number ("The answer is: Janet makes $18"), but never a digit or a sentence end,
# so "The answer is unclear. 5 apples" does not match.
_ANSWER_IS_RE = re.compile(r"\banswer\b\s*(?:is\b|:|=)[^\d.!?]{0,30}?" + _NUMBER, re.VERBOSE | re.IGNORECASE)

_BOXED_RE = re.compile(r"\\boxed\s*\{")

# \frac{3}{4}, \dfrac{3}{4} and \tfrac{3}{4} with plain numbers inside, rewritten as 3/4.
_LATEX_FRACTION_RE = re.compile(r"\\[dt]?frac\s*\{\s*(-?[\d.,]+)\s*\}\s*\{\s*(\d+)\s*\}")

# A reference is "... #### N" or a bare number such as "1,234", "$18.00" or "-3".
_BARE_REFERENCE_RE = re.compile(r"\s*" + _NUMBER + r"\s*%?\s*\.?\s*", re.VERBOSE)

_SHOWN_CHARS = 60


def _to_fraction(match: re.Match[str]) -> Fraction:
    integer = match.group("int")
    if integer is None:
        value = Fraction("0." + match.group("bare_frac"))
    else:
        digits = re.sub(r",|\{,\}|\\,", "", integer)
        fraction_digits = match.group("frac")
        value = Fraction(f"{digits}.{fraction_digits}" if fraction_digits else digits)
    if match.group("den"):
        value /= int(match.group("den"))
    if match.group("sign"):
        value = -value
    return value


def _last_boxed_number(text: str, numbers: list[re.Match[str]]) -> re.Match[str] | None:
    """Find the last number inside the last closed `\\boxed{...}` that contains one.

    `numbers` are all number matches in `text`. Braces nest, as in `\\boxed{9{,}500}`. An unclosed
    box, as in a completion cut off by the token limit, is skipped. One pass over the text and a
    binary search per box keep this linear even on output that repeats `\\boxed{` thousands of times.
    """
    closing = {}
    open_braces = []
    for position, char in enumerate(text):
        if char == "{":
            open_braces.append(position)
        elif char == "}" and open_braces:
            closing[open_braces.pop()] = position

    # Matches never overlap, so their ends are sorted like their starts.
    ends = [number.end() for number in numbers]
    for box in reversed(list(_BOXED_RE.finditer(text))):
        opening = box.end() - 1
        if opening not in closing:
            continue
        last = bisect.bisect_right(ends, closing[opening]) - 1
        if last >= 0 and numbers[last].start() > opening:
            return numbers[last]
    return None


def extract_answer(completion: str) -> Fraction | None:
    """Read the final answer of a completion, or None when it contains no number.

    Rules, first match wins: the first `#### X`, the last `\\boxed{X}` containing a number (its last
    number), the last "answer is X" or "Answer: X" (any case), else the last number in the text.
    """
    text = _LATEX_FRACTION_RE.sub(r"\1/\2", completion)

    # The first marker wins because models often continue with an invented next question and answer.
    hash_match = _HASH_RE.search(text)
    if hash_match is not None:
        return _to_fraction(hash_match)

    numbers = list(_NUMBER_RE.finditer(text))
    if "\\boxed" in text:
        boxed = _last_boxed_number(text, numbers)
        if boxed is not None:
            return _to_fraction(boxed)

    answer_is = None
    for match in _ANSWER_IS_RE.finditer(text):
        answer_is = match
    if answer_is is not None:
        return _to_fraction(answer_is)

    return _to_fraction(numbers[-1]) if numbers else None


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= _SHOWN_CHARS:
        return flat
    return flat[: _SHOWN_CHARS - 3] + "..."


def parse_reference(reference: str) -> Fraction:
    """Parse a GSM8K reference answer: a solution text ending in `#### N`, or a bare number.

    Raises ValueError naming the reference when it is neither.
    """
    if "####" in reference:
        # GSM8K solutions contain exactly one marker, and the final answer follows the last one.
        tail = reference.rsplit("####", 1)[1]
        match = _BARE_REFERENCE_RE.fullmatch(tail)
    else:
        match = _BARE_REFERENCE_RE.fullmatch(reference)
    if match is None:
        raise ValueError(
            f"invalid reference {_shorten(reference)!r}: expected a GSM8K answer ending in "
            f"'#### <number>' or a bare number such as '42'"
        )
    return _to_fraction(match)


def is_correct(completion: str, reference: str) -> bool:
    """Return whether the answer extracted from `completion` equals the reference value exactly.

    Raises ValueError when the reference cannot be parsed, because that is a data error, not a wrong answer.
    """
    expected = parse_reference(reference)
    extracted = extract_answer(completion)
    return extracted is not None and extracted == expected


def format_answer(value: Fraction) -> int | str:
    """Format a value for JSON without losing precision: 42, "5.5" or "1/3".

    Integers become JSON numbers. Other values become strings that `Fraction(s)` reads back exactly,
    because a JSON number with a fraction part would be read back as a float.
    """
    if value.denominator == 1:
        return value.numerator

    # A denominator made only of 2s and 5s has a finite decimal form. Any other value stays "p/q".
    remainder = value.denominator
    places = 0
    while remainder % 10 == 0:
        remainder //= 10
        places += 1
    while remainder % 2 == 0 or remainder % 5 == 0:
        remainder //= 2 if remainder % 2 == 0 else 5
        places += 1
    if remainder != 1:
        return f"{value.numerator}/{value.denominator}"

    scaled = abs(value.numerator) * 10**places // value.denominator
    sign = "-" if value < 0 else ""
    digits = str(scaled).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"
