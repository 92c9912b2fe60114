"""The GKD loss, pinned on hand-computed numbers: what beta means and which tokens count.

`GKDTrainer.generalized_jsd_loss` in TRL 1.16.0 (trl/experimental/gkd/gkd_trainer.py), with p the
teacher's next-token distribution and q the student's:

- beta = 0: forward KL, KL(p || q) = sum_v p log(p / q), which is mode-covering.
- beta = 1: reverse KL, KL(q || p) = sum_v q log(q / p), which is mode-seeking.
- 0 < beta < 1: generalized JSD with the mixture m = beta * p + (1 - beta) * q,
  JSD(beta) = beta * KL(p || m) + (1 - beta) * KL(q || m). beta = 0.5 is the ordinary JSD.

The endpoints are special cases, not limits: JSD(beta) tends to 0 as beta tends to 0 or 1, and
JSD(beta) / beta tends to the forward KL (JSD(beta) / (1 - beta) to the reverse KL).

GKDTrainer.compute_loss does not pass temperature, so GKDConfig.temperature changes sampling only.

lmbda is not part of the loss. GKDTrainer.training_step replaces a batch's completions with
student samples (on-policy data) when random.random() <= lmbda, so lmbda is the on-policy fraction.

The values below were computed with the `math` helpers in this file and are written out so that
the test reads as a specification. Logits are float64 so that 1e-6 checks the formula, not rounding.
"""

import math
import os

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from trl.experimental.gkd import GKDTrainer  # noqa: E402

TOLERANCE = 1e-6

# Position 1: teacher p and student q over a vocabulary of 3 tokens.
TEACHER = [0.7, 0.2, 0.1]
STUDENT = [0.2, 0.5, 0.3]

# KL(p || q) = 0.7 ln(0.7/0.2) + 0.2 ln(0.2/0.5) + 0.1 ln(0.1/0.3)
#            = 0.876934 - 0.183258 - 0.109861
FORWARD_KL = 0.583814702705
# KL(q || p) = 0.2 ln(0.2/0.7) + 0.5 ln(0.5/0.2) + 0.3 ln(0.3/0.1)
REVERSE_KL = 0.537176458838
# beta 0.5: m = 0.5 p + 0.5 q = [0.45, 0.35, 0.2], JSD = 0.5 KL(p || m) + 0.5 KL(q || m)
JSD_HALF = 0.132918006055
# beta 0.25: m = 0.25 p + 0.75 q = [0.325, 0.425, 0.25], JSD = 0.25 KL(p || m) + 0.75 KL(q || m)
JSD_QUARTER = 0.102814569782
# The same formula with the mixture the other way round, m = 0.25 q + 0.75 p. TRL must not return this.
JSD_QUARTER_SWAPPED = 0.099007991627

# Position 2, used by the reduction and masking tests.
TEACHER_2 = [0.1, 0.1, 0.8]
STUDENT_2 = [0.5, 0.25, 0.25]
# KL(p2 || q2) = 0.1 ln(0.1/0.5) + 0.1 ln(0.1/0.25) + 0.8 ln(0.8/0.25)
FORWARD_KL_2 = 0.677947783414


def _kl(left: list[float], right: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(left, right))


def _jsd(teacher: list[float], student: list[float], beta: float) -> float:
    mixture = [beta * p + (1 - beta) * q for p, q in zip(teacher, student)]
    return beta * _kl(teacher, mixture) + (1 - beta) * _kl(student, mixture)


def _logits(*positions: list[float]) -> torch.Tensor:
    # log p is a valid logit vector for p, because softmax(log p) = p.
    return torch.tensor([positions], dtype=torch.float64).log()


def _loss(teacher, student, **kwargs) -> float:
    loss = GKDTrainer.generalized_jsd_loss(_logits(*student), _logits(*teacher), **kwargs)
    return loss.item()


# --- the hand numbers follow the formulas


@pytest.mark.parametrize(
    ("literal", "formula"),
    [
        pytest.param(FORWARD_KL, lambda: _kl(TEACHER, STUDENT), id="forward-kl"),
        pytest.param(REVERSE_KL, lambda: _kl(STUDENT, TEACHER), id="reverse-kl"),
        pytest.param(JSD_HALF, lambda: _jsd(TEACHER, STUDENT, 0.5), id="jsd-half"),
        pytest.param(JSD_QUARTER, lambda: _jsd(TEACHER, STUDENT, 0.25), id="jsd-quarter"),
        pytest.param(JSD_QUARTER_SWAPPED, lambda: _jsd(STUDENT, TEACHER, 0.25), id="jsd-quarter-swapped"),
        pytest.param(FORWARD_KL_2, lambda: _kl(TEACHER_2, STUDENT_2), id="forward-kl-2"),
    ],
)
def test_hand_numbers(literal, formula):
    assert formula() == pytest.approx(literal, abs=1e-11)


# --- what beta selects


def test_beta_zero_is_forward_kl():
    assert _loss([TEACHER], [STUDENT], beta=0.0) == pytest.approx(FORWARD_KL, abs=TOLERANCE)


def test_beta_one_is_reverse_kl():
    assert _loss([TEACHER], [STUDENT], beta=1.0) == pytest.approx(REVERSE_KL, abs=TOLERANCE)


def test_beta_half_is_jsd():
    assert _loss([TEACHER], [STUDENT], beta=0.5) == pytest.approx(JSD_HALF, abs=TOLERANCE)


def test_beta_quarter_mixture_weights_teacher():
    loss = _loss([TEACHER], [STUDENT], beta=0.25)
    assert loss == pytest.approx(JSD_QUARTER, abs=TOLERANCE)
    assert loss != pytest.approx(JSD_QUARTER_SWAPPED, abs=TOLERANCE)


def test_small_beta_scales_forward_kl():
    # JSD(beta) = beta * KL(p || q) + O(beta^2), so the loss nearly vanishes just above beta = 0.
    beta = 1e-4
    assert _loss([TEACHER], [STUDENT], beta=beta) / beta == pytest.approx(FORWARD_KL, rel=1e-3)


def test_large_beta_scales_reverse_kl():
    beta = 1 - 1e-4
    assert _loss([TEACHER], [STUDENT], beta=beta) / (1 - beta) == pytest.approx(REVERSE_KL, rel=1e-3)


@pytest.mark.parametrize("beta", [0.0, 0.25, 0.5, 1.0])
def test_identical_distributions_zero(beta):
    assert _loss([TEACHER, TEACHER_2], [TEACHER, TEACHER_2], beta=beta) == pytest.approx(0.0, abs=TOLERANCE)


def test_temperature_divides_logits():
    student = _logits(STUDENT)
    teacher = _logits(TEACHER)
    scaled = GKDTrainer.generalized_jsd_loss(student, teacher, beta=0.5, temperature=2.0).item()
    divided = GKDTrainer.generalized_jsd_loss(student / 2, teacher / 2, beta=0.5).item()
    assert scaled == pytest.approx(divided, abs=TOLERANCE)


# --- which positions count


def test_labels_mean_over_tokens():
    labels = torch.tensor([[5, 7]])
    loss = _loss([TEACHER, TEACHER_2], [STUDENT, STUDENT_2], labels=labels, beta=0.0)
    assert loss == pytest.approx((FORWARD_KL + FORWARD_KL_2) / 2, abs=TOLERANCE)


def test_masked_position_excluded():
    labels = torch.tensor([[5, -100]])
    loss = _loss([TEACHER, TEACHER_2], [STUDENT, STUDENT_2], labels=labels, beta=0.0)
    assert loss == pytest.approx(FORWARD_KL, abs=TOLERANCE)


def test_all_masked_is_zero():
    labels = torch.tensor([[-100, -100]])
    loss = _loss([TEACHER, TEACHER_2], [STUDENT, STUDENT_2], labels=labels, beta=0.5)
    assert loss == 0.0


def test_no_labels_sums_positions():
    # Without labels, "batchmean" divides by the batch size (1 here), not by the number of tokens.
    # GKDTrainer.compute_loss always passes labels, so training never takes this path.
    loss = _loss([TEACHER, TEACHER_2], [STUDENT, STUDENT_2], beta=0.0)
    assert loss == pytest.approx(FORWARD_KL + FORWARD_KL_2, abs=TOLERANCE)


def test_num_items_divides_sum():
    # GKDTrainer.compute_loss passes num_items_in_batch, the count of label tokens over all
    # gradient-accumulation steps, so each micro-batch adds its masked sum over that count.
    labels = torch.tensor([[5, -100]])
    loss = _loss([TEACHER, TEACHER_2], [STUDENT, STUDENT_2], labels=labels, beta=0.0, num_items_in_batch=4)
    assert loss == pytest.approx(FORWARD_KL / 4, abs=TOLERANCE)
