"""TRL's GKD trainer with the run's sampling settings enforced and rollout time and tokens counted."""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from trl.experimental.gkd import GKDConfig, GKDTrainer  # noqa: E402

__all__ = ["GKDConfig", "AtlasGKDTrainer", "NonFiniteRollout"]


class NonFiniteRollout(RuntimeError):
    """The student's next-token probabilities held NaN or inf, so no rollout could be sampled."""


class AtlasGKDTrainer(GKDTrainer):
    """GKDTrainer whose on-policy rollouts stop at every EOS id and report their cost.

    The divergence loss, the on-policy/off-policy choice (lmbda) and the rollout masking are
    TRL's own; this class only pins the stop ids, counts rollout tokens and times generation, so
    that the train lines can show time in generation against time in the update.
    """

    def __init__(self, *args: Any, eos_ids: Sequence[int] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        if eos_ids:
            # Stop at every end-of-turn id, not only the first one the model config lists.
            self.generation_config.eos_token_id = list(eos_ids)
        self._generation_seconds = 0.0
        self._rollout_tokens = 0

    def sampling_settings(self) -> dict[str, Any]:
        """Return the sampling parameters passed to `generate` for on-policy rollouts."""
        config = self.generation_config
        return {
            "do_sample": bool(config.do_sample),
            "temperature": float(config.temperature),
            "top_p": float(config.top_p),
            "top_k": int(config.top_k),
            "max_new_tokens": int(config.max_new_tokens),
            "repetition_penalty": float(config.repetition_penalty or 1.0),
            "eos_token_id": list(config.eos_token_id) if isinstance(config.eos_token_id, list) else config.eos_token_id,
            "lmbda": float(self.lmbda),
            "beta": float(self.beta),
        }

    def generate_on_policy_outputs(self, model, inputs, generation_config):  # type: ignore[override]
        started = time.perf_counter()
        try:
            new_input_ids, new_attention_mask, new_labels = GKDTrainer.generate_on_policy_outputs(
                model, inputs, generation_config
            )
        except RuntimeError as error:
            # torch.multinomial rejects NaN/inf probabilities: the weights have already diverged.
            text = str(error)
            if "inf" in text or "nan" in text:
                raise NonFiniteRollout(text.splitlines()[0]) from error
            raise
        self._generation_seconds += time.perf_counter() - started
        self._rollout_tokens += int((new_labels != -100).sum().item())
        return new_input_ids, new_attention_mask, new_labels

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:
            logs["generation_time"] = round(self._generation_seconds, 4)
            logs["num_tokens"] = self._rollout_tokens
            self._generation_seconds = 0.0
            self._rollout_tokens = 0
        super().log(logs, start_time)
