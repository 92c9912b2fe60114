"""Byte-level BPE tokenizer for the demo models, trained on the synthetic problems."""

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

IM_START = "<|im_start|>"
# End of a chat turn, and so the eos token: generation stops when the assistant turn closes.
IM_END = "<|im_end|>"
# Padding has its own token, distinct from eos, so that masking pads never hides a real end of
# turn. Qwen2 models use this token for padding, and Qwen2Tokenizer adds it when it is missing.
PAD = "<|endoftext|>"
SPECIAL_TOKENS = [PAD, IM_START, IM_END]

# ChatML turns. The `generation` block marks the assistant tokens, which lets
# `apply_chat_template(..., return_assistant_tokens_mask=True)` find the tokens to train on.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Maximum sequence length, also the models' `max_position_embeddings`. A chat-formatted synthetic
# problem with its solution is well under 200 tokens.
MODEL_MAX_LENGTH = 512


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` and wrap it with the chat template and special tokens.

    Digits are split one per token so that numbers are spelled digit by digit, which small
    models learn to do arithmetic on far more easily than on multi-digit tokens.
    """
    tokenizer = Tokenizer(models.BPE())
    # `AutoTokenizer` loads any tokenizer saved beside a Qwen2 model as `Qwen2Tokenizer`
    # (transformers 5), which replaces the saved normalizer and pre-tokenizer with Qwen2's own.
    # Training with those same steps makes the loaded tokenizer split text exactly as here.
    # Qwen2's split pattern already isolates each digit; the Digits step states that on its own.
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        # Every byte is in the vocabulary, so any text (real GSM8K included) can be encoded.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=IM_END,
        pad_token=PAD,
        chat_template=CHAT_TEMPLATE,
        model_max_length=MODEL_MAX_LENGTH,
    )
