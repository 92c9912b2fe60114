"""The GKD trainer as the engine builds it: rollout labels, sampling settings, vocabularies, divergence."""

import math

import pytest
import torch
from datasets import Dataset
from transformers import TrainerControl, TrainerState

from trainer import models
from trainer.callbacks import MetricsCallback
from trainer.gkd import AtlasGKDTrainer, GKDConfig

pytestmark = pytest.mark.slow
PLACEMENT = models.Placement("cpu", torch.float32, False)


def _trainer(tmp_path, student_dir, teacher_dir, **overrides):
    tokenizer = models.load_tokenizer(str(student_dir))
    student = models.load_model(str(student_dir), PLACEMENT)
    teacher = models.load_model(str(teacher_dir), PLACEMENT)
    models.match_teacher_vocab(teacher, student)
    settings = dict(
        output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2, lmbda=1.0, beta=0.5,
        temperature=0.9, max_new_tokens=6, use_cpu=True, bf16=False, gradient_checkpointing=False,
        dataloader_pin_memory=False, report_to=[],
    )
    settings.update(overrides)
    rows = [{"messages": [{"role": "user", "content": f"What is {i} + 1?"},
                          {"role": "assistant", "content": f"{i} + 1 = {i + 1}\n#### {i + 1}"}]} for i in range(4)]
    return AtlasGKDTrainer(
        model=student, teacher_model=teacher, args=GKDConfig(**settings), train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer, eos_ids=models.eos_token_ids(tokenizer, student),
    )


def test_pad_equals_eos_keeps_final_eos_label(tmp_path):
    from tiny_models import build_pair

    student_dir, teacher_dir = build_pair(tmp_path / "models", pad_equals_eos=True)
    trainer = _trainer(tmp_path, student_dir, teacher_dir)
    tokenizer = trainer.processing_class
    eos = tokenizer.eos_token_id
    assert tokenizer.pad_token_id == eos
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    # The reference answers of the collated batch (eval_loss) end with a labelled EOS.
    for labels in batch["labels"]:
        assert eos in labels.tolist()
    # Force every rollout to end with EOS at its last position, then check the labels keep it.
    config = trainer.generation_config
    config.forced_eos_token_id = eos
    ids, attention, labels = trainer.generate_on_policy_outputs(trainer.model, batch, config)
    prompt_length = batch["prompts"].shape[1]
    for row in range(ids.shape[0]):
        completion = ids[row, prompt_length:].tolist()
        first_eos = completion.index(eos)
        assert labels[row, prompt_length + first_eos].item() == eos
        assert attention[row, prompt_length + first_eos].item() == 1
        assert (labels[row, prompt_length + first_eos + 1 :] == -100).all()


def test_sampling_ignores_model_generation_config(tmp_path):
    from tiny_models import build_pair

    inherited = {"do_sample": True, "temperature": 0.05, "top_p": 0.2, "top_k": 3, "repetition_penalty": 2.0}
    student_dir, teacher_dir = build_pair(tmp_path / "models", student_generation=inherited)
    trainer = _trainer(tmp_path, student_dir, teacher_dir, temperature=0.6)
    merged, _ = trainer.model._prepare_generation_config(trainer.generation_config)
    assert merged.do_sample is True
    assert merged.temperature == 0.6
    assert merged.top_p == 1.0
    assert merged.top_k == 0
    assert merged.repetition_penalty in (None, 1.0)
    assert trainer.sampling_settings()["temperature"] == 0.6


def test_teacher_padded_vocab_sliced(tmp_path):
    from tiny_models import build_model, build_tokenizer

    tokenizer = build_tokenizer(tmp_path / "student")
    build_model(tmp_path / "student", tokenizer, hidden=32, layers=1)
    build_model(tmp_path / "teacher", tokenizer, hidden=48, layers=2, vocab_size=len(tokenizer) + 64)
    trainer = _trainer(tmp_path, tmp_path / "student", tmp_path / "teacher")
    assert trainer.teacher_model.config.vocab_size == len(tokenizer)
    trainer.train()
    assert math.isfinite(trainer.state.log_history[-1]["train_loss"])


def test_narrower_teacher_rejected(tmp_path):
    from tiny_models import build_model, build_tokenizer

    tokenizer = build_tokenizer(tmp_path / "student")
    student = build_model(tmp_path / "student", tokenizer, vocab_size=len(tokenizer) + 64)
    teacher = build_model(tmp_path / "teacher", tokenizer)
    with pytest.raises(models.ModelError, match="teacher vocab_size .* is smaller than the student's"):
        models.match_teacher_vocab(teacher, student)


@pytest.mark.parametrize("loss, grad_norm", [(0.0, math.nan), (math.nan, 1.0), (math.inf, 1.0), (0.5, math.inf)])
def test_nonfinite_step_stops_training(loss, grad_norm):
    callback = MetricsCallback(None, lambda: {}, stop_after_nonfinite=1, on_total_steps=lambda total: None)
    state, control = TrainerState(), TrainerControl()
    state.global_step = 4
    callback.on_log(None, state, control, logs={"loss": loss, "grad_norm": grad_norm, "learning_rate": 1e-5})
    assert control.should_training_stop
    assert callback.diverged_at_step == 4


def test_stop_after_nonfinite_counts_consecutive():
    callback = MetricsCallback(None, lambda: {}, stop_after_nonfinite=2, on_total_steps=lambda total: None)
    state, control = TrainerState(), TrainerControl()
    for step, loss in ((1, math.nan), (2, 0.5), (3, math.nan)):
        state.global_step = step
        callback.on_log(None, state, control, logs={"loss": loss, "grad_norm": 1.0})
    assert not control.should_training_stop
    state.global_step = 4
    callback.on_log(None, state, control, logs={"loss": math.nan, "grad_norm": 1.0})
    assert control.should_training_stop
    assert callback.diverged_at_step == 1
