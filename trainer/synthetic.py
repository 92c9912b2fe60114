"""Synthetic GSM8K-style word problems with worked solutions, for the offline demo.

Each problem takes one to three arithmetic steps (+, -, *, / with exact integer results) and its
solution shows every step as `a op b = c` before a final `#### N` line, as GSM8K solutions do.
Numbers stay small so that a model of under a million parameters can learn the task on a CPU in
minutes: no number in a problem or its solution exceeds 50, and products and quotients are
times-table facts. Multi-digit multiplication and long division are left out because such a
model rarely learns them.

Pure Python, so that tools which only read or show data need not import torch.
"""

import hashlib
import random
import re

SPLITS = ("train", "test")

# Share of distinct problem texts that belong to the test split. The split is a function of the
# text alone, so no seed or count can put one problem in both splits.
TEST_SHARE_PERCENT = 10

# Maximum solution length, in characters. With the demo tokenizer, 230 characters kept each of
# 10,000 training solutions within 90 tokens (eos included) and 96% of them within 80, so a
# generation budget of 96 new tokens does not cut off the final `#### N` line. A longer draw is
# redrawn with the same step count.
MAX_SOLUTION_CHARS = 230

# Weights of one-, two- and three-step problems. Most problems are short because each extra step
# multiplies the chance of an arithmetic slip for the small demo models.
STEP_WEIGHTS = {1: 40, 2: 35, 3: 25}

# Largest number in any problem or solution. With every number at most 20 there are only a few
# hundred distinct equations, which a model of under a million parameters masters in minutes.
MAX_NUMBER = 20

NAMES = [
    ("Tom", "he"), ("Mia", "she"), ("Leo", "he"), ("Ava", "she"), ("Sam", "he"), ("Zoe", "she"),
    ("Ben", "he"), ("Lily", "she"), ("Omar", "he"), ("Nina", "she"), ("Raj", "he"), ("Emma", "she"),
    ("Jack", "he"), ("Sara", "she"), ("Ivan", "he"), ("Maya", "she"), ("Luis", "he"), ("Anna", "she"),
    ("Kofi", "he"), ("Yuki", "she"), ("Paul", "he"), ("Rosa", "she"), ("Eli", "he"), ("Ines", "she"),
]
PRONOUNS = {"he": ("he", "him", "his"), "she": ("she", "her", "her")}

OBJECTS = [
    ("apple", "apples"), ("marble", "marbles"), ("sticker", "stickers"), ("pencil", "pencils"),
    ("book", "books"), ("coin", "coins"), ("shell", "shells"), ("card", "cards"),
    ("cookie", "cookies"), ("balloon", "balloons"), ("stamp", "stamps"), ("flower", "flowers"),
    ("egg", "eggs"), ("crayon", "crayons"), ("button", "buttons"), ("bead", "beads"),
    ("orange", "oranges"), ("candle", "candles"), ("toy car", "toy cars"), ("lemon", "lemons"),
]
CONTAINERS = [("box", "boxes"), ("bag", "bags"), ("pack", "packs"), ("jar", "jars"), ("basket", "baskets")]


def generate_problems(seed: int, count: int, split: str) -> list[dict[str, str]]:
    """Generate `count` distinct problems of one split, the same list for the same arguments.

    Each problem is a dict with `question` and `answer`, where the answer is a worked solution
    that ends with `#### N`.
    """
    if split not in SPLITS:
        raise ValueError(f"invalid split {split!r}: use 'train' or 'test'")
    if count < 0:
        raise ValueError(f"invalid count {count}: use a count of 0 or more")

    rng = random.Random(seed)
    seen: set[str] = set()
    problems = []
    while len(problems) < count:
        question, answer = _make_problem(rng)
        if question in seen or split_of(question) != split:
            continue
        seen.add(question)
        problems.append({"question": question, "answer": answer})
    return problems


def split_of(question: str) -> str:
    """Return the split that a problem text belongs to, from a stable hash of the text."""
    digest = hashlib.sha256(question.encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:4], "big") % 100
    return "test" if bucket < TEST_SHARE_PERCENT else "train"


def _make_problem(rng: random.Random) -> tuple[str, str]:
    steps = rng.choices(list(STEP_WEIGHTS), weights=list(STEP_WEIGHTS.values()))[0]
    # A draw can break a bound (a number over MAX_NUMBER, a long solution, nothing to divide), so
    # draw again.
    while True:
        if steps <= 2 and rng.random() < 0.3:
            made = _scene_problem(rng, steps)
        else:
            made = _story_problem(rng, steps)
        if made is None or len(made[1]) > MAX_SOLUTION_CHARS:
            continue
        if max(int(n) for n in _NUMBER.findall(made[1])) <= MAX_NUMBER:
            return made


_NUMBER = re.compile(r"\d+")


# --- stories: one person's collection of objects changes step by step ---------------------------


class _Story:
    """A person, a friend and an object, with the phrases that every story sentence needs."""

    def __init__(self, rng: random.Random):
        (self.name, pronoun), (self.friend, _) = rng.sample(NAMES, 2)
        self.he, self.him, self.his = PRONOUNS[pronoun]
        self.He = self.he.capitalize()
        self.His = self.his.capitalize()
        self.object = rng.choice(OBJECTS)
        self.container = rng.choice(CONTAINERS)
        self.objects = self.object[1]

    def count(self, n: int) -> str:
        return f"{n} {self.object[0] if n == 1 else self.object[1]}"

    def containers(self, n: int) -> str:
        return f"{n} {self.container[0] if n == 1 else self.container[1]}"


def _restate(sentence: str, consequence: str) -> str:
    """Join a sentence of the question and what follows from it: "A, so B."."""
    return f"{sentence[:-1]}, so {consequence}."


def _story_problem(rng: random.Random, steps: int) -> tuple[str, str] | None:
    s = _Story(rng)
    sentences: list[str] = []
    lines: list[str] = []

    # Opening: either a plain count or a product, which is one step of its own.
    if steps >= 2 and rng.random() < 0.35:
        k, m = rng.randint(2, 4), rng.randint(2, 5)
        value = k * m
        sentence = rng.choice(
            [
                f"{s.name} has {s.containers(k)} of {s.objects} with {m} in each {s.container[0]}.",
                f"{s.name} owns {s.containers(k)}, and each {s.container[0]} holds {s.count(m)}.",
            ]
        )
        sentences.append(sentence)
        lines.append(_restate(sentence, f"{s.he} starts with {k} * {m} = {s.count(value)}"))
        steps -= 1
    else:
        value = rng.randint(3, 15)
        verb = rng.choice(["has", "owns", "collects"])
        sentence = f"{s.name} {verb} {s.count(value)}."
        sentences.append(sentence)
        lines.append(sentence)

    last_kind = "add"
    while steps > 0:
        ops = [_add_step, _sub_step, _mul_step, _div_step]
        if steps >= 2:
            ops += [_packs_add_step, _packs_sub_step]
        made = rng.choice(ops)(rng, s, value)
        if made is None:
            return None
        sentence, step_lines, value, used, last_kind = made
        sentences.append(sentence)
        lines.extend(step_lines)
        steps -= used

    if last_kind == "sub":
        ask = rng.choice(
            [
                f"How many {s.objects} does {s.name} have left?",
                f"How many {s.objects} are left with {s.name}?",
            ]
        )
    else:
        ask = rng.choice(
            [
                f"How many {s.objects} does {s.name} have now?",
                f"How many {s.objects} does {s.name} end up with?",
                f"How many {s.objects} does {s.name} have at the end?",
            ]
        )
    question = " ".join(sentences + [ask])
    answer = "\n".join(lines + [f"#### {value}"])
    return question, answer


# Each step returns its question sentence, its solution lines, the new count, the number of
# arithmetic steps it took and its kind, or None when it cannot apply to the current count.
# A solution line restates the question sentence before the arithmetic, as a careful student
# would, which also lets a small model copy the numbers from nearby text.


def _add_step(rng, s: _Story, x: int):
    b = rng.randint(2, 10)
    y = x + b
    sentence = rng.choice(
        [
            f"{s.He} buys {b} more {s.objects}.",
            f"{s.friend} gives {s.him} {s.count(b)}.",
            f"{s.He} finds {b} more {s.objects}.",
            f"Then {s.he} gets {s.count(b)} from {s.friend}.",
        ]
    )
    consequence = rng.choice(
        [f"{s.he} now has {x} + {b} = {s.count(y)}", f"{s.he} has {x} + {b} = {s.count(y)}"]
    )
    return sentence, [_restate(sentence, consequence)], y, 1, "add"


def _sub_step(rng, s: _Story, x: int):
    if x < 2:
        return None
    b = rng.randint(1, min(x, 10))
    y = x - b
    sentence = rng.choice(
        [
            f"{s.He} gives {s.count(b)} to {s.friend}.",
            f"{s.He} loses {b} of {s.his} {s.objects}.",
            f"{s.He} sells {s.count(b)}.",
            f"{s.friend} takes {s.count(b)} from {s.him}.",
        ]
    )
    consequence = rng.choice(
        [f"{s.he} has {x} - {b} = {s.count(y)} left", f"{s.he} now has {x} - {b} = {s.count(y)}"]
    )
    return sentence, [_restate(sentence, consequence)], y, 1, "sub"


def _mul_step(rng, s: _Story, x: int):
    # Only times-table facts: a small model learns those, but rarely multi-digit multiplication.
    if x > 10:
        return None
    k = rng.randint(2, 4)
    y = x * k
    sentence = rng.choice(
        [
            f"After a trade, {s.he} has {k} times as many {s.objects}.",
            f"Then {s.he} trades until {s.he} has {k} times as many.",
            f"{s.friend} helps {s.him} get {k} times as many {s.objects}.",
        ]
    )
    return sentence, [_restate(sentence, f"{s.he} has {x} * {k} = {s.count(y)}")], y, 1, "mul"


def _div_step(rng, s: _Story, x: int):
    # Only inverse times-table facts, for the same reason as in `_mul_step`.
    divisors = [k for k in range(2, 11) if x % k == 0 and x // k <= 10]
    if not divisors:
        return None
    k = rng.choice(divisors)
    y = x // k
    sentence = rng.choice(
        [
            f"{s.He} splits {s.his} {s.objects} into {k} equal {s.container[1]} and keeps one.",
            f"{s.He} shares {s.his} {s.objects} equally among {k} friends and keeps one share.",
            f"{s.He} sorts {s.his} {s.objects} into {k} equal piles and keeps one.",
        ]
    )
    return sentence, [_restate(sentence, f"{s.he} keeps {x} / {k} = {s.count(y)}")], y, 1, "div"


def _packs_add_step(rng, s: _Story, x: int):
    k, m = rng.randint(2, 4), rng.randint(2, 5)
    p = k * m
    y = x + p
    sentence = rng.choice(
        [
            f"{s.He} buys {s.containers(k)} of {s.objects} with {m} in each {s.container[0]}.",
            f"{s.friend} gives {s.him} {s.containers(k)} that hold {s.count(m)} each.",
        ]
    )
    lines = [
        _restate(sentence, f"{s.he} gets {k} * {m} = {s.count(p)}"),
        f"{s.He} now has {x} + {p} = {s.count(y)}.",
    ]
    return sentence, lines, y, 2, "add"


def _packs_sub_step(rng, s: _Story, x: int):
    choices = [(k, m) for k in range(2, 6) for m in range(2, 11) if k * m <= x]
    if not choices:
        return None
    k, m = rng.choice(choices)
    p = k * m
    y = x - p
    sentence = rng.choice(
        [
            f"{s.He} fills {s.containers(k)} with {s.count(m)} each and gives them to {s.friend}.",
            f"{s.He} sells {s.containers(k)} of {s.objects} with {m} in each {s.container[0]}.",
        ]
    )
    lines = [
        _restate(sentence, f"{s.he} gives away {k} * {m} = {s.count(p)}"),
        f"{s.He} has {x} - {p} = {s.count(y)} left.",
    ]
    return sentence, lines, y, 2, "sub"


# --- scenes: stand-alone problems about other things --------------------------------------------


def _scene_problem(rng: random.Random, steps: int) -> tuple[str, str] | None:
    (name, pronoun), (friend, _) = rng.sample(NAMES, 2)
    he = PRONOUNS[pronoun][0]
    scenes = _TWO_STEP_SCENES if steps == 2 else _ONE_STEP_SCENES
    made = rng.choice(scenes)(rng, name, he, friend)
    if made is None:
        return None
    facts, ask, lines, value = made
    question = " ".join(facts + [ask])
    return question, "\n".join(lines + [f"#### {value}"])


# Each scene returns its fact sentences, its question, its solution lines and its answer.


def _pages_scene(rng, name, he, friend):
    a, b = rng.randint(2, 12), rng.randint(2, 8)
    fact = f"{name} reads {a} pages on Monday and {b} pages on Tuesday."
    line = _restate(fact, f"{he} reads {a} + {b} = {a + b} pages on the two days")
    return [fact], f"How many pages does {name} read on the two days?", [line], a + b


def _ages_scene(rng, name, he, friend):
    a, b = rng.randint(3, 12), rng.randint(2, 8)
    facts = [f"{name} is {a} years old.", f"{friend} is {b} years older than {name}."]
    lines = [facts[0], _restate(facts[1], f"{friend} is {a} + {b} = {a + b} years old")]
    return facts, f"How old is {friend}?", lines, a + b


def _ribbon_scene(rng, name, he, friend):
    a = rng.randint(10, 20)
    b = rng.randint(1, min(a - 1, 10))
    facts = [f"A ribbon is {a} centimeters long.", f"{name} cuts off {b} centimeters."]
    lines = [facts[0], _restate(facts[1], f"the ribbon is {a} - {b} = {a - b} centimeters long now")]
    return facts, "How long is the ribbon now?", lines, a - b


def _birds_scene(rng, name, he, friend):
    a = rng.randint(5, 20)
    b = rng.randint(1, min(a, 10))
    facts = [f"There are {a} birds on a tree.", f"{b} of them fly away."]
    lines = [facts[0], _restate(facts[1], f"there are {a} - {b} = {a - b} birds left on the tree")]
    return facts, "How many birds are left on the tree?", lines, a - b


def _trays_scene(rng, name, he, friend):
    a, b = rng.randint(2, 4), rng.randint(2, 5)
    fact = f"A baker puts {b} cookies on each of {a} trays."
    line = _restate(fact, f"there are {a} * {b} = {a * b} cookies on the trays")
    return [fact], "How many cookies are on the trays?", [line], a * b


def _savings_scene(rng, name, he, friend):
    a, b = rng.randint(2, 4), rng.randint(2, 5)
    fact = f"{name} saves {b} dollars every week for {a} weeks."
    line = _restate(fact, f"{he} saves {a} * {b} = {a * b} dollars")
    return [fact], f"How many dollars does {name} save?", [line], a * b


def _groups_scene(rng, name, he, friend):
    size, groups = rng.randint(2, 5), rng.randint(2, 4)
    total = size * groups
    fact = f"A teacher splits {total} students into groups of {size}."
    line = _restate(fact, f"there are {total} / {size} = {groups} groups")
    return [fact], "How many groups are there?", [line], groups


def _cartons_scene(rng, name, he, friend):
    size, cartons = rng.randint(2, 5), rng.randint(2, 4)
    total = size * cartons
    fact = f"A farmer packs {total} eggs into cartons of {size} eggs each."
    line = _restate(fact, f"the farmer fills {total} / {size} = {cartons} cartons")
    return [fact], "How many cartons does the farmer fill?", [line], cartons


def _change_scene(rng, name, he, friend):
    count, price = rng.randint(2, 3), rng.randint(2, 6)
    cost = count * price
    bill = rng.choice([b for b in (10, 20) if b >= cost])
    facts = [
        f"{name} buys {count} notebooks that cost {price} dollars each.",
        f"{he.capitalize()} pays with a {bill}-dollar bill.",
    ]
    lines = [
        _restate(facts[0], f"the notebooks cost {count} * {price} = {cost} dollars"),
        _restate(facts[1], f"the change is {bill} - {cost} = {bill - cost} dollars"),
    ]
    return facts, f"How many dollars of change does {he} get?", lines, bill - cost


def _garden_scene(rng, name, he, friend):
    rows, per_row = rng.randint(2, 4), rng.randint(2, 5)
    planted = rows * per_row
    eaten = rng.randint(1, min(planted, 10))
    facts = [
        f"{name} plants {rows} rows of carrots with {per_row} carrots in each row.",
        f"Rabbits eat {eaten} of the carrots.",
    ]
    lines = [
        _restate(facts[0], f"{he} plants {rows} * {per_row} = {planted} carrots"),
        _restate(facts[1], f"there are {planted} - {eaten} = {planted - eaten} carrots left"),
    ]
    return facts, "How many carrots are left?", lines, planted - eaten


def _trip_scene(rng, name, he, friend):
    first, second = rng.randint(2, 10), rng.randint(2, 10)
    total = first + second
    # Only inverse times-table facts, for the same reason as in `_mul_step`.
    divisors = [k for k in range(2, 11) if total % k == 0 and total // k <= 10]
    if not divisors:
        return None
    parts = rng.choice(divisors)
    facts = [
        f"{name} walks {first} kilometers in the first week and {second} kilometers in the second week.",
        f"Next month {he} walks the same distance in {parts} equal parts.",
    ]
    lines = [
        _restate(facts[0], f"{he} walks {first} + {second} = {total} kilometers in the two weeks"),
        _restate(facts[1], f"each part is {total} / {parts} = {total // parts} kilometers"),
    ]
    return facts, "How many kilometers is each part?", lines, total // parts


_ONE_STEP_SCENES = [
    _pages_scene, _ages_scene, _ribbon_scene, _birds_scene,
    _trays_scene, _savings_scene, _groups_scene, _cartons_scene,
]
_TWO_STEP_SCENES = [_change_scene, _garden_scene, _trip_scene]
