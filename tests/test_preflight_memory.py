"""The memory estimate as a pure function of numbers, its verdicts, and GPU detection parsing."""

import os

import pytest

from trainer.preflight.checks import check_memory
from trainer.preflight.gpu import GpuInfo, detect_gpu, parse_nvidia_smi, parse_proc_information, select_visible
from trainer.preflight.memory import GIB, ModelShape, RunShape, estimate_memory, judge_fit

H200 = GpuInfo.from_gib(141, name="NVIDIA H200")

# Llama-3-70B- and Llama-3-8B-like shapes.
TEACHER_70B = ModelShape(params=70_000_000_000, layers=80, kv_heads=8, head_dim=128, vocab_size=128256,
                         hidden_size=8192, intermediate_size=28672)
STUDENT_8B = ModelShape(params=8_000_000_000, layers=32, kv_heads=8, head_dim=128, vocab_size=128256,
                        hidden_size=4096, intermediate_size=14336)
# Qwen2.5-32B- and Qwen3-1.7B-like shapes.
TEACHER_32B = ModelShape(params=32_000_000_000, layers=64, kv_heads=8, head_dim=128, vocab_size=152064,
                         hidden_size=5120, intermediate_size=27648)
STUDENT_1B7 = ModelShape(params=1_700_000_000, layers=28, kv_heads=8, head_dim=128, vocab_size=151936,
                         hidden_size=2048, intermediate_size=6144)
RUN = RunShape(batch_size=2, prompt_tokens=256, max_new_tokens=256, eval_batch_size=16)


def test_70b_teacher_weights():
    estimate = estimate_memory(STUDENT_8B, TEACHER_70B, RUN)
    assert estimate.item_bytes("teacher weights") / GIB == pytest.approx(130.4, abs=0.1)


def test_8b_student_states_fp32():
    run = RunShape(batch_size=2, prompt_tokens=256, max_new_tokens=256, optimizer_states="fp32")
    estimate = estimate_memory(STUDENT_8B, TEACHER_70B, run)
    states = estimate.item_bytes("student weights") + estimate.item_bytes("student gradients") + estimate.phase_bytes("optimizer")
    assert states / GIB == pytest.approx(119.2, abs=0.1)


def test_8b_student_states_param_dtype():
    estimate = estimate_memory(STUDENT_8B, TEACHER_70B, RUN)
    states = estimate.item_bytes("student weights") + estimate.item_bytes("student gradients") + estimate.phase_bytes("optimizer")
    assert states / GIB == pytest.approx(59.6, abs=0.1)


@pytest.mark.parametrize("optimizer_states", ["param", "fp32"])
def test_70b_plus_8b_does_not_fit(optimizer_states):
    run = RunShape(batch_size=2, prompt_tokens=256, max_new_tokens=256, optimizer_states=optimizer_states)
    estimate = estimate_memory(STUDENT_8B, TEACHER_70B, run)
    assert judge_fit(estimate.peak_bytes, H200.total_bytes).verdict == "does not fit"


@pytest.mark.parametrize("optimizer_states", ["param", "fp32"])
def test_32b_plus_1b7_fits(optimizer_states):
    run = RunShape(batch_size=2, prompt_tokens=256, max_new_tokens=256, eval_batch_size=16, optimizer_states=optimizer_states)
    estimate = estimate_memory(STUDENT_1B7, TEACHER_32B, run)
    assert judge_fit(estimate.peak_bytes, H200.total_bytes).verdict == "fits"


def test_fit_verdict_tight():
    assert judge_fit(int(0.95 * GIB), GIB).verdict == "tight"


def test_fit_verdict_boundary():
    assert judge_fit(int(0.9 * GIB) - 1, GIB).verdict == "fits"


def test_kv_cache_formula():
    estimate = estimate_memory(STUDENT_8B, TEACHER_70B, RUN)
    expected = 2 * 32 * 8 * 128 * 2 * 2 * 512  # K and V × layers × kv heads × head_dim × bf16 × batch × tokens
    assert estimate.item_bytes("student KV cache") == expected


def test_logits_formula():
    estimate = estimate_memory(STUDENT_8B, TEACHER_70B, RUN)
    assert estimate.item_bytes("logits (student + teacher)") == 2 * 512 * (128256 + 128256) * 4


def test_peak_adds_largest_phase():
    estimate = estimate_memory(STUDENT_8B, TEACHER_70B, RUN)
    step = max(estimate.phase_bytes(phase) for phase in ("loss step", "rollout", "evaluation"))
    expected = estimate.phase_bytes("weights") + estimate.phase_bytes("optimizer") + step
    assert estimate.peak_bytes == expected


def test_peak_phase_is_loss_step():
    assert estimate_memory(STUDENT_8B, TEACHER_70B, RUN).peak_phase == "loss step"


def test_reward_sampling_can_dominate():
    run = RunShape(batch_size=1, prompt_tokens=256, max_new_tokens=16, reward_sequences=4096, reward_max_new_tokens=4096)
    estimate = estimate_memory(STUDENT_1B7, TEACHER_32B, run)
    assert estimate.peak_phase == "reward sampling"


def test_seq_kd_adds_teacher_kv():
    run = RunShape(batch_size=2, prompt_tokens=256, max_new_tokens=256, teacher_rollouts=True)
    estimate = estimate_memory(STUDENT_1B7, TEACHER_32B, run)
    assert estimate.item_bytes("teacher KV cache") == 2 * 64 * 8 * 128 * 2 * 2 * 512


def test_fp32_run_doubles_weights():
    student = ModelShape(params=1000, layers=1, kv_heads=1, head_dim=4, vocab_size=10, dtype="float32")
    estimate = estimate_memory(student, student, RUN)
    assert estimate.item_bytes("student weights") == 4000


def test_fp32_weights_have_no_master_copy():
    student = ModelShape(params=1000, layers=1, kv_heads=1, head_dim=4, vocab_size=10, dtype="float32")
    run = RunShape(batch_size=1, prompt_tokens=1, max_new_tokens=1, optimizer_states="fp32")
    assert estimate_memory(student, student, run).item_bytes("fp32 master weights") == 0


def test_invalid_optimizer_states():
    with pytest.raises(ValueError, match="invalid optimizer_states 'adam8bit'"):
        estimate_memory(STUDENT_8B, TEACHER_70B, RunShape(1, 1, 1, optimizer_states="adam8bit"))


def test_memory_check_does_not_fit():
    check = check_memory(estimate_memory(STUDENT_8B, TEACHER_70B, RUN), "", H200)
    assert check.verdict == "error"
    assert check.message.startswith("does not fit: estimated peak")
    assert "141.0 GiB of NVIDIA H200" in check.message
    assert "LoRA on the student" in check.message
    assert "ZeRO-Offload" in check.message
    assert "FSDP or DeepSpeed ZeRO-3" in check.message
    assert "a teacher under about" in check.message


def test_memory_check_fits():
    check = check_memory(estimate_memory(STUDENT_1B7, TEACHER_32B, RUN), "", H200)
    assert check.verdict == "ok"
    assert check.message.startswith("fits: estimated peak")
    assert "headroom" in check.message


def test_memory_check_tight():
    estimate = estimate_memory(STUDENT_1B7, TEACHER_32B, RUN)
    gpu = GpuInfo(name="small GPU", total_bytes=int(estimate.peak_bytes * 1.05))
    check = check_memory(estimate, "", gpu)
    assert check.verdict == "warning"
    assert check.message.startswith("tight:")
    assert "under 10%" in check.message


def test_memory_check_busy_gpu():
    estimate = estimate_memory(STUDENT_1B7, TEACHER_32B, RUN)
    gpu = GpuInfo(name="NVIDIA H200", total_bytes=141 * GIB, free_bytes=20 * GIB)
    check = check_memory(estimate, "", gpu)
    assert check.verdict == "warning"
    assert "only 20.0 GiB are free now" in check.message


def test_memory_check_no_gpu():
    check = check_memory(estimate_memory(STUDENT_1B7, TEACHER_32B, RUN), "", None)
    assert check.verdict == "unchecked"
    assert "no GPU found" in check.message
    assert "estimated peak" in check.message
    assert "--gpu-memory-gib" in check.message


def test_memory_check_unknown_size():
    gpu = GpuInfo(name="NVIDIA A100", total_bytes=None, source="/proc/driver/nvidia/gpus")
    check = check_memory(estimate_memory(STUDENT_1B7, TEACHER_32B, RUN), "", gpu)
    assert check.verdict == "unchecked"
    assert "found NVIDIA A100" in check.message


def test_memory_check_without_estimate():
    check = check_memory(None, "teacher head_dim unknown", H200)
    assert check.verdict == "unchecked"
    assert "teacher head_dim unknown" in check.message


NVIDIA_SMI_OUTPUT = """\
0, GPU-1111aaaa-0000-0000-0000-000000000000, NVIDIA H200, 143771, 143000
1, GPU-2222bbbb-0000-0000-0000-000000000000, NVIDIA H200, 143771, 1000
"""


def test_parse_nvidia_smi():
    gpus = parse_nvidia_smi(NVIDIA_SMI_OUTPUT)
    assert [gpu["name"] for gpu in gpus] == ["NVIDIA H200", "NVIDIA H200"]
    assert gpus[0]["total_bytes"] == 143771 * 1024**2
    assert gpus[1]["free_bytes"] == 1000 * 1024**2


def test_parse_nvidia_smi_skips_na():
    assert parse_nvidia_smi("0, GPU-x, Virtual GPU, [N/A], [N/A]\n") == []


def test_select_visible_by_index():
    gpus = parse_nvidia_smi(NVIDIA_SMI_OUTPUT)
    assert [gpu["index"] for gpu in select_visible(gpus, "1")] == ["1"]


def test_select_visible_by_uuid():
    gpus = parse_nvidia_smi(NVIDIA_SMI_OUTPUT)
    assert [gpu["index"] for gpu in select_visible(gpus, "GPU-2222bbbb")] == ["1"]


def test_select_visible_empty_hides_all():
    assert select_visible(parse_nvidia_smi(NVIDIA_SMI_OUTPUT), "") == []


def test_select_visible_unset_keeps_all():
    assert len(select_visible(parse_nvidia_smi(NVIDIA_SMI_OUTPUT), None)) == 2


def test_parse_proc_information():
    text = "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 55\nGPU UUID: \t GPU-abc\n"
    assert parse_proc_information(text) == "NVIDIA H100 80GB HBM3"


def fake_nvidia_smi(folder, monkeypatch, output: str = NVIDIA_SMI_OUTPUT) -> None:
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncat <<'END'\n{output}END\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")


def test_detect_gpu_nvidia_smi(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    gpu = detect_gpu()
    assert gpu.name == "NVIDIA H200"
    assert gpu.total_bytes == 143771 * 1024**2
    assert gpu.free_bytes == 1000 * 1024**2
    assert gpu.count == 2
    assert gpu.source == "nvidia-smi"


def test_detect_gpu_respects_visible(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch)
    gpu = detect_gpu(visible_devices="0")
    assert gpu.count == 1
    assert gpu.free_bytes == 143000 * 1024**2


def test_detect_gpu_reads_environment(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert detect_gpu() is None
