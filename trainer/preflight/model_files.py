"""Per-model facts read from config.json, the tokenizer files and the safetensors headers."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.preflight import hub
from trainer.preflight.locate import ModelLocation
from trainer.preflight.safetensors_headers import WeightsError, WeightsSummary, read_weights
from trainer.preflight.tokenizer_files import TokenizerFacts, read_tokenizer

CONFIG_FILE = "config.json"
ESTIMATED_FROM_CONFIG = "estimated from config.json"
# Names other architectures use for the same config values, tried in order.
ALIASES = {
    "vocab_size": ("vocab_size", "n_vocab", "padded_vocab_size"),
    "max_position_embeddings": ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"),
    "hidden_size": ("hidden_size", "n_embd", "d_model"),
    "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "num_attention_heads": ("num_attention_heads", "n_head"),
    "num_key_value_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv"),
    "intermediate_size": ("intermediate_size", "n_inner", "ffn_dim"),
}


@dataclass
class ModelFacts:
    """Facts read from one model folder; `*_errors` and `*_warnings` name unusable files."""

    role: str
    reference: str
    path: str | None = None
    architecture: str | None = None
    model_type: str | None = None
    param_count: int | None = None
    param_source: str | None = None
    dtype: str | None = None
    vocab_size: int | None = None
    max_position_embeddings: int | None = None
    hidden_size: int | None = None
    intermediate_size: int | None = None
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    tie_word_embeddings: bool | None = None
    auto_map: dict[str, Any] = field(default_factory=dict)
    tokenizer: TokenizerFacts = field(default_factory=TokenizerFacts)
    file_errors: list[str] = field(default_factory=list)
    weight_errors: list[str] = field(default_factory=list)
    weight_warnings: list[str] = field(default_factory=list)

    @property
    def needs_remote_code(self) -> bool:
        """True when `auto_map` names code shipped with the checkpoint and transformers has no class of its own.

        transformers uses its own class for a model_type it supports even when `auto_map` is set.
        """
        return bool(self.auto_map) and not natively_supported(self.model_type)

    @property
    def has_chat_template(self) -> bool:
        return self.tokenizer.chat_template is not None

    @property
    def pad_equals_eos(self) -> bool | None:
        if self.tokenizer.pad_token is None or self.tokenizer.eos_token is None:
            return None
        return self.tokenizer.pad_token == self.tokenizer.eos_token

    def to_dict(self) -> dict[str, Any]:
        """Return the facts as JSON-ready values (the template text itself is left out)."""
        tokenizer = self.tokenizer
        return {
            "role": self.role,
            "reference": self.reference,
            "path": self.path,
            "architecture": self.architecture,
            "model_type": self.model_type,
            "param_count": self.param_count,
            "param_source": self.param_source,
            "dtype": self.dtype,
            "vocab_size": self.vocab_size,
            "tokenizer_size": tokenizer.size,
            "tokenizer_fingerprint": tokenizer.fingerprint,
            "tokenizer_files": tokenizer.files,
            "bos_token": tokenizer.bos_token,
            "eos_token": tokenizer.eos_token,
            "eos_token_id": tokenizer.token_id(tokenizer.eos_token),
            "pad_token": tokenizer.pad_token,
            "pad_token_id": tokenizer.token_id(tokenizer.pad_token),
            "pad_equals_eos": self.pad_equals_eos,
            "chat_template": self.has_chat_template,
            "chat_template_source": tokenizer.chat_template_source,
            "max_position_embeddings": self.max_position_embeddings,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "tie_word_embeddings": self.tie_word_embeddings,
            "needs_remote_code": self.needs_remote_code,
            "auto_map": self.auto_map,
            "file_errors": self.file_errors,
            "weight_errors": self.weight_errors,
            "weight_warnings": self.weight_warnings,
        }


def read_model(location: ModelLocation, role: str) -> ModelFacts:
    """Read one model folder, recording missing or invalid files on the facts instead of raising."""
    folder = location.path
    facts = ModelFacts(role=role, reference=location.reference, path=str(folder))
    config = _read_config(folder / CONFIG_FILE, facts)
    if config is not None:
        _apply_config(config, facts)
    facts.tokenizer = read_tokenizer(folder)
    facts.file_errors.extend(facts.tokenizer.problems)
    tokenizer_auto_map = _tokenizer_auto_map(folder)
    if tokenizer_auto_map:
        facts.auto_map.update({f"tokenizer {key}": value for key, value in tokenizer_auto_map.items()})
    _read_weights(location, facts)
    return facts


def _read_config(path: Path, facts: ModelFacts) -> dict[str, Any] | None:
    if not path.is_file():
        facts.file_errors.append(f"{path} not found; a model folder needs the checkpoint's config.json")
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        facts.file_errors.append(f"{path} is not valid JSON ({error}); download or save the checkpoint again")
        return None
    if not isinstance(config, dict):
        facts.file_errors.append(f"{path} is not a JSON object; download or save the checkpoint again")
        return None
    return config


def _apply_config(config: dict[str, Any], facts: ModelFacts) -> None:
    architectures = config.get("architectures")
    facts.model_type = config.get("model_type")
    facts.architecture = architectures[0] if isinstance(architectures, list) and architectures else facts.model_type
    auto_map = config.get("auto_map")
    facts.auto_map = dict(auto_map) if isinstance(auto_map, dict) else {}
    # Multimodal checkpoints keep the language model's shape in text_config.
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    for name, aliases in ALIASES.items():
        setattr(facts, name, _first_int(text, aliases) or _first_int(config, aliases))
    if facts.num_key_value_heads is None:
        facts.num_key_value_heads = facts.num_attention_heads
    head_dim = _first_int(text, ("head_dim",))
    if head_dim is None and facts.hidden_size and facts.num_attention_heads:
        head_dim = facts.hidden_size // facts.num_attention_heads
    facts.head_dim = head_dim
    if facts.intermediate_size is None and facts.hidden_size:
        facts.intermediate_size = 4 * facts.hidden_size
    tie = text.get("tie_word_embeddings", config.get("tie_word_embeddings"))
    facts.tie_word_embeddings = bool(tie) if tie is not None else None
    dtype = text.get("dtype") or text.get("torch_dtype") or config.get("dtype") or config.get("torch_dtype")
    facts.dtype = str(dtype) if dtype else None


def _tokenizer_auto_map(folder: Path) -> dict[str, Any]:
    path = folder / "tokenizer_config.json"
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}  # read_tokenizer has already reported an unreadable file
    auto_map = table.get("auto_map") if isinstance(table, dict) else None
    return dict(auto_map) if isinstance(auto_map, dict) else {}


def _read_weights(location: ModelLocation, facts: ModelFacts) -> None:
    folder = location.path
    summary: WeightsSummary | None = None
    try:
        summary = read_weights(folder)
    except WeightsError as error:
        if not _can_use_hub(location):
            facts.weight_errors.append(str(error))
            return
    if summary is None and _can_use_hub(location):
        try:
            summary = hub.fetch_weights_summary(location.hub_id)
        except hub.HubError as error:
            facts.weight_errors.append(
                f"cannot read the weight headers of {location.hub_id} on the Hub ({error}); "
                "download the checkpoint or pass a local directory"
            )
            return

    if summary is not None:
        facts.param_count = summary.param_count
        facts.param_source = summary.source
        facts.dtype = summary.dtype or facts.dtype
        return

    estimate = estimate_parameters(facts)
    if estimate is not None:
        facts.param_count = estimate
        facts.param_source = ESTIMATED_FROM_CONFIG
    if any(folder.glob("*.bin")) or any(folder.glob("*.pt")):
        facts.weight_warnings.append(
            f"{folder} has no safetensors weights, only PyTorch pickles; the parameter count is estimated "
            "from config.json. Convert the checkpoint to safetensors for an exact count"
        )
    else:
        facts.weight_errors.append(
            f"no weight files in {folder} (expected model.safetensors or model.safetensors.index.json with its shards); "
            "download the full checkpoint"
        )


def _can_use_hub(location: ModelLocation) -> bool:
    return location.hub_id is not None and not hub.hub_offline()


def estimate_parameters(facts: ModelFacts) -> int | None:
    """Estimate parameters of a dense decoder with a gated MLP from its config (biases ignored).

    NOTE: mixture-of-experts and other non-dense architectures are not modelled; for them the
    safetensors count is the only reliable one.
    """
    needed = (facts.vocab_size, facts.hidden_size, facts.num_hidden_layers, facts.num_attention_heads, facts.head_dim)
    if any(value is None for value in needed):
        return None
    hidden, heads, kv_heads, head_dim = facts.hidden_size, facts.num_attention_heads, facts.num_key_value_heads, facts.head_dim
    attention = hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2  # q and o, k and v
    mlp = 3 * hidden * facts.intermediate_size  # gate, up and down projections
    layer = attention + mlp + 2 * hidden  # plus two RMSNorm weights
    embeddings = facts.vocab_size * hidden * (1 if facts.tie_word_embeddings else 2)
    return embeddings + facts.num_hidden_layers * layer + hidden


def natively_supported(model_type: str | None) -> bool:
    """Tell whether the installed transformers has a module for `model_type`, without importing it."""
    if not model_type:
        return False
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        return False
    package = Path(spec.submodule_search_locations[0])
    return (package / "models" / model_type.replace("-", "_")).is_dir()


def _first_int(table: dict[str, Any], names: tuple[str, ...]) -> int | None:
    for name in names:
        value = table.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
