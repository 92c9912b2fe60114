"""Chat messages that every dataset, the evaluator and the demo models share."""

SYSTEM_PROMPT = (
    "Solve the math word problem step by step. "
    "End your reply with a final line of the form '#### <number>'."
)


def build_messages(question: str, answer: str | None = None) -> list[dict[str, str]]:
    """Build the chat turns for one problem, with the assistant turn when `answer` is given."""
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": question.strip()},
    ]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer.strip()})
    return messages
