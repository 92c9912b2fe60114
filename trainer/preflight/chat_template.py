"""Render a chat template with jinja2 the way transformers does, without importing transformers."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any, Mapping, Sequence

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment


class TemplateRenderError(ValueError):
    """A chat template that does not compile or raises while rendering."""


class _GenerationBlock(jinja2.ext.Extension):
    """Accept `{% generation %}...{% endgeneration %}` and render its body unchanged.

    transformers uses the block to mark assistant tokens for training masks; rendering only
    needs the text inside it.
    """

    tags = {"generation"}

    def parse(self, parser: jinja2.parser.Parser) -> list[jinja2.nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators=None, sort_keys: bool = False) -> str:
    # Jinja's own tojson escapes HTML characters, which would change the rendered prompt.
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _environment() -> ImmutableSandboxedEnvironment:
    # Templates come from downloaded checkpoints, so they run sandboxed, with the same whitespace
    # settings as transformers so that rendered prompts match the trainer's byte for byte.
    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationBlock, jinja2.ext.loopcontrols],
    )
    environment.filters["tojson"] = _tojson
    environment.globals["raise_exception"] = _raise_exception
    environment.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return environment


@functools.lru_cache(maxsize=8)
def _compile(template: str) -> jinja2.Template:
    # Compiling costs milliseconds and a check renders hundreds of prompts with one template.
    return _environment().from_string(template)


def render_chat(
    template: str,
    messages: Sequence[Mapping[str, str]],
    *,
    add_generation_prompt: bool,
    special_tokens: Mapping[str, str | None] | None = None,
) -> str:
    """Render `messages` with `template`; raise TemplateRenderError with jinja's reason."""
    try:
        compiled = _compile(template)
        return compiled.render(
            messages=[dict(message) for message in messages],
            add_generation_prompt=add_generation_prompt,
            tools=None,
            documents=None,
            **{name: value for name, value in (special_tokens or {}).items() if value is not None},
        )
    # Besides jinja's own errors, a template's expressions can fail like any Python expression.
    except (jinja2.exceptions.TemplateError, TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        raise TemplateRenderError(f"{type(error).__name__}: {error}") from error
