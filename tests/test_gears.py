"""Gear definitions and config resolution: layering, reference commands and error messages."""

import shlex
import subprocess
import sys
import tomllib

import pytest

from gears import FIELDS, ConfigError, gear_metadata, resolve
from gears.loader import GEARS_DIR
from trainer.cli import build_parser, main, resolve_from_args

DIAGNOSTIC_COMMAND = (
    "--student Qwen/Qwen2.5-7B-Instruct --teacher Qwen/Qwen2.5-14B-Instruct --dataset-name gsm8k "
    "--dataset-config main --dataset-max-samples 8792 --train-limit 7473 --eval-limit 1319 --max-steps 500 "
    "--per-device-train-batch-size 2 --gradient-accumulation-steps 4 --learning-rate 2e-5 --lmbda 1.0 "
    "--beta 0.5 --temperature 0.9 --max-new-tokens 256 --eval-sample-size 256 --min-reward 0.8 --bf16"
)
RELIABILITY_COMMAND = (
    "--student Qwen/Qwen2.5-7B-Instruct --teacher Qwen/Qwen2.5-14B-Instruct --dataset-name gsm8k "
    "--dataset-config main --dataset-max-samples 8792 --train-limit 7473 --eval-limit 1319 --num-train-epochs 5 "
    "--per-device-train-batch-size 2 --gradient-accumulation-steps 4 --learning-rate 3e-6 --lmbda 1.0 "
    "--beta 0.5 --temperature 0.6 --max-new-tokens 128 --eval-sample-size 256 --min-reward 0.9 --bf16"
)
SHARED = {
    "lmbda": 1.0,
    "beta": 0.5,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 4,
    "eval_sample_size": 256,
    "bf16": True,
    "dataset_name": "gsm8k",
    "dataset_config": "main",
    "train_limit": 7473,
    "eval_limit": 1319,
    "student": "Qwen/Qwen2.5-7B-Instruct",
    "teacher": "Qwen/Qwen2.5-14B-Instruct",
}
DIAGNOSTIC = {"temperature": 0.9, "max_new_tokens": 256, "min_reward": 0.8, "learning_rate": 2e-5, "max_steps": 500}
RELIABILITY = {"temperature": 0.6, "max_new_tokens": 128, "min_reward": 0.9, "learning_rate": 3e-6, "num_train_epochs": 5.0}


def _cli(command: str):
    return resolve_from_args(build_parser().parse_args(shlex.split(command)))


@pytest.mark.parametrize("gear, expected", [("diagnostic", DIAGNOSTIC), ("reliability", RELIABILITY)])
def test_gear_values(gear, expected):
    config = resolve(gear)
    for key, value in {**SHARED, **expected}.items():
        assert config[key] == value, key


def test_base_defines_every_key():
    base = tomllib.loads((GEARS_DIR / "base.toml").read_text())
    defined = {key for table in base.values() for key in table}
    assert defined == {field.name for field in FIELDS}


def test_every_key_documented():
    for field in FIELDS:
        assert len(field.doc) > 15, field.name


def test_reliability_runs_by_epochs():
    assert resolve("reliability")["max_steps"] == -1


def test_gear_metadata_promotion():
    assert gear_metadata("diagnostic")["promotes_to"] == "reliability"


@pytest.mark.parametrize("command, gear, expected", [
    (DIAGNOSTIC_COMMAND, "diagnostic", DIAGNOSTIC),
    (RELIABILITY_COMMAND, "reliability", RELIABILITY),
])
def test_reference_command_resolves(command, gear, expected):
    config = _cli(command)
    reference = resolve(gear)
    for key in list(SHARED) + list(expected):
        assert config[key] == reference[key], key


@pytest.mark.parametrize("name, gear", [("run/gkd_diagnostic", "diagnostic"), ("run/gkd_reliability", "reliability")])
def test_config_name_selects_gear(name, gear):
    assert _cli(f"--config-name {name}").gear == gear


def test_layer_order(tmp_path):
    config_file = tmp_path / "mine.toml"
    config_file.write_text("[train]\nlearning_rate = 1e-4\nmax_steps = 7\n[distill]\nbeta = 0.2\n")
    config = resolve(
        "diagnostic",
        demo=True,
        config_file=config_file,
        overrides=["max_steps=9", "distill.temperature=0.7"],
        flags={"temperature": 0.8},
    )
    assert config["student"] == "demo"                 # demo profile over base
    assert config["learning_rate"] == 1e-4             # file over demo profile
    assert config["beta"] == 0.2                       # file over base
    assert config["max_steps"] == 9                    # override over file
    assert config["temperature"] == 0.8                # flag over override
    assert config.sources["max_steps"] == "override 'max_steps=9'"


def test_demo_keeps_gear_character():
    diagnostic, reliability = resolve("diagnostic", demo=True), resolve("reliability", demo=True)
    assert diagnostic["temperature"] > reliability["temperature"]
    assert diagnostic["learning_rate"] > reliability["learning_rate"]
    assert diagnostic["min_reward"] < reliability["min_reward"]


def test_no_gear_flags_decide():
    config = _cli("--temperature 0.33")
    assert config.gear == "custom"
    assert config["temperature"] == 0.33


def test_override_types():
    config = resolve("diagnostic", overrides=["max_steps=6", "learning_rate=1e-3", "bf16=false", "student=org/model"])
    assert config["max_steps"] == 6
    assert config["learning_rate"] == 1e-3
    assert config["bf16"] is False
    assert config["student"] == "org/model"


@pytest.mark.parametrize("override, message", [
    ("max_step=6", "unknown config key 'max_step' (from override 'max_step=6'); did you mean 'max_steps'?"),
    ("beta=1.5", "invalid value for 'beta' (from override 'beta=1.5'): expected a number in [0, 1], got 1.5"),
    ("lmbda=-0.1", "invalid value for 'lmbda' (from override 'lmbda=-0.1'): expected a number in [0, 1], got -0.1"),
    ("learning_rate=-1e-5", "invalid value for 'learning_rate' (from override 'learning_rate=-1e-5'): expected a number > 0, got -1e-05"),
    ("max_new_tokens=0", "invalid value for 'max_new_tokens' (from override 'max_new_tokens=0'): expected an integer >= 1, got 0"),
    ("max_steps=1.5", "invalid value for 'max_steps' (from override 'max_steps=1.5'): expected an integer >= -1, got 1.5 (float)"),
    ("bf16=yes", "invalid value for 'bf16' (from override 'bf16=yes'): expected true or false, got 'yes' (str)"),
    ("report_to=tensorboard", "invalid value for 'report_to' (from override 'report_to=tensorboard'): expected one of 'wandb', 'none', got 'tensorboard'"),
    ("train.beta=0.1", "config key 'beta' belongs to section [distill], not [train] (from override 'train.beta=0.1')"),
    ("max_steps", "invalid override 'max_steps': write it as key=value, e.g. max_steps=6"),
    ("nodes=2", "nodes = 2 needs main_address: set main_address=<rank-0 host> or nodes=1"),
])
def test_config_error_messages(override, message):
    with pytest.raises(ConfigError) as error:
        resolve("diagnostic", overrides=[override])
    assert str(error.value) == message


def test_flag_error_names_flag():
    with pytest.raises(ConfigError, match=r"invalid value for 'beta' \(from flag\)"):
        _cli("--beta 2")


def test_unknown_gear_suggests():
    with pytest.raises(ConfigError, match="unknown gear 'diagnostc'.*did you mean 'diagnostic'"):
        resolve("diagnostc")


def test_config_file_errors(tmp_path):
    missing = tmp_path / "none.toml"
    with pytest.raises(ConfigError, match="config file not found"):
        resolve("diagnostic", config_file=missing)
    bad_section = tmp_path / "bad.toml"
    bad_section.write_text("[trian]\nmax_steps = 3\n")
    with pytest.raises(ConfigError, match=r"unknown config section \[trian\].*did you mean 'train'"):
        resolve("diagnostic", config_file=bad_section)
    broken = tmp_path / "broken.toml"
    broken.write_text("max_steps = \n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        resolve("diagnostic", config_file=broken)


def test_print_config_round_trip(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "--gear", "reliability", "--print-config"],
        capture_output=True, text=True, check=True,
    )
    printed = tmp_path / "printed.toml"
    printed.write_text(result.stdout)
    assert "# Generalized JSD weight" in result.stdout
    reloaded = resolve(None, config_file=printed)
    assert reloaded.values == resolve("reliability").values


def test_print_config_skips_torch():
    code = (
        "import sys, trainer.cli as c; c.main(['--gear', 'diagnostic', '--print-config']); "
        "assert not {'torch', 'transformers', 'trl'} & set(sys.modules), 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_cli_error_exit_code():
    result = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "--gear", "diagnostic", "beta=7", "--print-config"],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "invalid value for 'beta'" in result.stderr


@pytest.mark.parametrize("argument", ["--max-step", "--max_steps"])
def test_near_miss_flag_named(argument, capsys):
    with pytest.raises(SystemExit) as exited:
        main([argument, "6"])
    assert exited.value.code == 2
    assert "did you mean --max-steps or the override max_steps=VALUE?" in capsys.readouterr().err


def test_unknown_flag_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["--bogus"])
    assert "unrecognized argument '--bogus'; see atlas-train --help" in capsys.readouterr().err


@pytest.mark.parametrize("devices", ["", "0", "0,1,7", "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6", "MIG-GPU-8932f937/1/0"])
def test_cuda_visible_devices_accepted(devices):
    assert resolve("diagnostic", overrides=[f"cuda_visible_devices={devices}"])["cuda_visible_devices"] == devices


@pytest.mark.parametrize("devices", ["abc", "0,,1", "0 1", "gpu0"])
def test_cuda_visible_devices_rejected(devices):
    with pytest.raises(ConfigError, match="expected comma-separated GPU indices"):
        resolve("diagnostic", overrides=[f"cuda_visible_devices={devices}"])
