"""The Jinja environment every template renders in: the built-in templates, an operator's
folder over them, autoescape for HTML, and the project's filters."""

from __future__ import annotations

from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

from .text import breakable, plain_math, short_authors, trim_words, wrap_text


def builtin_templates() -> Path:
    """The wheel ships templates as digest/templates; a source checkout has them at top level."""
    package = Path(__file__).resolve().parents[1]
    packaged = package / "templates"
    return packaged if packaged.is_dir() else package.parent / "templates"


def make_environment(override_dir: Path | None = None) -> Environment:
    loaders = [FileSystemLoader(str(override_dir))] if override_dir else []
    loaders.append(FileSystemLoader(str(builtin_templates())))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".html")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        trim_words=trim_words,
        short_authors=short_authors,
        wrap_text=wrap_text,
        breakable=breakable,
        plain_math=plain_math,
    )
    return env
