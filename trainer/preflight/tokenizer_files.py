"""A tokenizer's identity, size, special tokens and chat template, read from its files as JSON."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
# Files of tokenizers saved without tokenizer.json: GPT-2 style BPE and SentencePiece.
SLOW_FILES = ("vocab.json", "merges.txt", "tokenizer.model")
# transformers reads a chat template from these files before tokenizer_config.json's key.
TEMPLATE_JINJA_FILE = "chat_template.jinja"
TEMPLATE_JSON_FILE = "chat_template.json"
SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "pad_token")


@dataclass
class TokenizerFacts:
    """Facts the preflight reads from one tokenizer; `problems` lists files that could not be used."""

    files: list[str] = field(default_factory=list)
    # Hash of the vocabulary, the merges and the added tokens: equal hashes mean equal token ids.
    fingerprint: str | None = None
    # Distinct token ids, vocabulary plus added tokens (what len(tokenizer) returns in transformers).
    size: int | None = None
    bos_token: str | None = None
    eos_token: str | None = None
    pad_token: str | None = None
    token_ids: dict[str, int] = field(default_factory=dict)
    chat_template: str | None = None
    chat_template_source: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def has_files(self) -> bool:
        return TOKENIZER_FILE in self.files or any(name in self.files for name in SLOW_FILES)

    def token_id(self, token: str | None) -> int | None:
        return self.token_ids.get(token) if token is not None else None


def read_tokenizer(model_dir: Path) -> TokenizerFacts:
    """Read the tokenizer files of a model directory; missing or invalid files go to `problems`."""
    facts = TokenizerFacts()
    names = (TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_FILE, TEMPLATE_JINJA_FILE, TEMPLATE_JSON_FILE)
    facts.files = [name for name in names + SLOW_FILES if (model_dir / name).is_file()]

    tokenizer_config = _read_json_object(model_dir / TOKENIZER_CONFIG_FILE, facts)
    special_tokens_map = _read_json_object(model_dir / SPECIAL_TOKENS_FILE, facts)
    fast = _read_json(model_dir / TOKENIZER_FILE, facts)
    if isinstance(fast, dict):
        _read_fast_tokenizer(fast, model_dir / TOKENIZER_FILE, facts)
    elif (model_dir / "vocab.json").is_file() or (model_dir / "tokenizer.model").is_file():
        _read_slow_tokenizer(model_dir, tokenizer_config, facts)
    if not facts.has_files:
        facts.problems.append(
            f"no tokenizer files in {model_dir} (expected {TOKENIZER_FILE}, or vocab.json and merges.txt, "
            "or tokenizer.model); copy the tokenizer files of the checkpoint into it"
        )

    for name in SPECIAL_TOKEN_NAMES:
        token = _token_text(tokenizer_config.get(name)) or _token_text(special_tokens_map.get(name))
        setattr(facts, name, token)
    _read_chat_template(model_dir, tokenizer_config, facts)
    return facts


def _read_fast_tokenizer(table: dict[str, Any], path: Path, facts: TokenizerFacts) -> None:
    model = table.get("model")
    if not isinstance(model, dict) or "vocab" not in model:
        facts.problems.append(f"{path} has no model.vocab; save the tokenizer again with save_pretrained")
        return
    vocab = model["vocab"]
    added = [token for token in table.get("added_tokens") or [] if isinstance(token, dict)]
    try:
        if isinstance(vocab, dict):
            ids = {str(token): int(index) for token, index in vocab.items()}
        else:
            # Unigram vocabularies are [piece, score] lists whose position is the id.
            ids = {str(entry[0]): index for index, entry in enumerate(vocab)}
        for token in added:
            ids[str(token.get("content"))] = int(token.get("id", -1))
    except (TypeError, ValueError, IndexError, KeyError) as error:
        facts.problems.append(f"{path} has an invalid vocabulary entry ({error}); save the tokenizer again")
        return
    facts.token_ids = ids
    facts.size = len(set(ids.values()))

    # tokenizers 0.20 and later save merges as pairs, older versions as "a b" strings: normalize so
    # the same tokenizer saved by either version gets the same fingerprint.
    merges = [" ".join(map(str, merge)) if isinstance(merge, list) else str(merge) for merge in model.get("merges") or []]
    identity = {
        "type": model.get("type"),
        "vocab": vocab,
        "merges": merges,
        "added_tokens": sorted((int(t.get("id", -1)), str(t.get("content")), bool(t.get("special"))) for t in added),
    }
    facts.fingerprint = _hash_json(identity)


def _read_slow_tokenizer(model_dir: Path, tokenizer_config: dict[str, Any], facts: TokenizerFacts) -> None:
    digest = hashlib.sha256()
    for name in SLOW_FILES:
        path = model_dir / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    added = tokenizer_config.get("added_tokens_decoder")
    added = added if isinstance(added, dict) else {}
    digest.update(json.dumps(added, sort_keys=True).encode())
    facts.fingerprint = digest.hexdigest()[:16]

    vocab = _read_json(model_dir / "vocab.json", facts)
    if isinstance(vocab, dict) and all(isinstance(index, int) for index in vocab.values()):
        ids = {str(token): index for token, index in vocab.items()}
        for index, entry in added.items():
            content = _token_text(entry)
            if content is not None and str(index).isdigit():
                ids[content] = int(index)
        facts.token_ids = ids
        facts.size = len(set(ids.values()))
    # NOTE: a SentencePiece tokenizer.model is protobuf; its size stays unknown without parsing it.


def _read_chat_template(model_dir: Path, tokenizer_config: dict[str, Any], facts: TokenizerFacts) -> None:
    jinja_file = model_dir / TEMPLATE_JINJA_FILE
    if jinja_file.is_file():
        try:
            facts.chat_template = jinja_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            facts.problems.append(f"cannot read {jinja_file} ({error}); save the tokenizer again")
            return
        facts.chat_template_source = TEMPLATE_JINJA_FILE
        return
    table = _read_json(model_dir / TEMPLATE_JSON_FILE, facts)
    if isinstance(table, dict) and table.get("chat_template"):
        facts.chat_template = _default_template(table["chat_template"])
        facts.chat_template_source = TEMPLATE_JSON_FILE
        return
    template = _default_template(tokenizer_config.get("chat_template"))
    if template:
        facts.chat_template = template
        facts.chat_template_source = TOKENIZER_CONFIG_FILE


def _default_template(value: Any) -> str | None:
    """Pick the template a chat run uses: the string itself, or the one named 'default' in a list."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, list):
        named = {entry.get("name"): entry.get("template") for entry in value if isinstance(entry, dict)}
        template = named.get("default")
        return template if isinstance(template, str) and template else None
    return None


def _token_text(value: Any) -> str | None:
    """Return a special token's text, saved either as a string or as an AddedToken dict."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def _read_json(path: Path, facts: TokenizerFacts) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        facts.problems.append(f"{path} is not valid JSON ({error}); download or save the tokenizer again")
        return None


def _read_json_object(path: Path, facts: TokenizerFacts) -> dict[str, Any]:
    value = _read_json(path, facts)
    if value is None:
        return {}
    if not isinstance(value, dict):
        facts.problems.append(f"{path} is not a JSON object; save the tokenizer again with save_pretrained")
        return {}
    return value


def _hash_json(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
