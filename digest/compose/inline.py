"""CSS inlined into the HTML template once, instead of into every message.

premailer applies each CSS rule to the elements its selector matches. In our template every
element's classes are written out in the template itself; what a message adds is text and
URLs. So inlining the template once, with each Jinja construct held by an inert marker while
premailer works, yields a template whose every rendering equals premailer run on that
rendering. `Composer` checks this on the first message of each run (`same_document`) and goes
back to inlining every message if a template (an operator's override, say) breaks it.
"""

from __future__ import annotations

import logging
import re

from jinja2 import Environment, Template
from lxml import html as lxml_html
from premailer import Premailer

from ..errors import NotInlinable

# A Jinja construct: expression, statement or comment (default delimiters, whitespace control).
_CONSTRUCT = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_INCLUDE = re.compile(r"""^\{%-?\s*include\s+(["'])([^"']+)\1\s*-?%\}$""")
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.S | re.I)
# Letters and digits only: lxml percent-escapes other characters in href and src values.
_MARK = "ZjQx{}xQjZ"
_MARKED = re.compile(r"ZjQx(\d+)xQjZ")


def inline_html(html: str) -> str:
    """premailer as the project uses it: no network, leftovers (media queries) kept in one
    <style>."""
    return Premailer(
        html,
        allow_network=False,
        strip_important=False,
        keep_style_tags=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform(pretty_print=False)


def _expand_style_includes(env: Environment, source: str) -> str:
    """Put the text of `{% include %}`d stylesheets into their <style> elements, so premailer
    sees the rules. Any other construct inside a <style> makes the CSS depend on the message."""

    def expand(m: re.Match[str]) -> str:
        def included(c: re.Match[str]) -> str:
            inc = _INCLUDE.match(c.group(0))
            if inc is None:
                raise NotInlinable(f"a template construct inside <style>: {c.group(0)[:60]}")
            text, _, _ = env.loader.get_source(env, inc.group(2))  # type: ignore[union-attr]
            if _CONSTRUCT.search(text):
                raise NotInlinable(f"{inc.group(2)} holds template constructs")
            return text

        return m.group(0).replace(m.group(1), _CONSTRUCT.sub(included, m.group(1)))

    return _STYLE.sub(expand, source)


def inlined_source(env: Environment, name: str) -> str:
    """The template's source with its CSS inlined, its Jinja constructs as they were."""
    source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
    if _MARKED.search(source):
        raise NotInlinable("the template holds text that looks like an inlining marker")
    source = _expand_style_includes(env, source)
    held: list[str] = []

    def hold(m: re.Match[str]) -> str:
        held.append(m.group(0))
        return _MARK.format(len(held) - 1)

    marked = _CONSTRUCT.sub(hold, source)
    out = inline_html(marked)
    found = [int(n) for n in _MARKED.findall(out)]
    if sorted(found) != list(range(len(held))):
        raise NotInlinable("premailer moved or dropped part of the template")
    return _MARKED.sub(lambda m: held[int(m.group(1))], out)


def compiled(env: Environment, name: str, source: str) -> Template:
    """`source` compiled as the template `name` (so autoescape applies as to `name`)."""
    code = env.compile(source, name=name, filename=name)
    return env.template_class.from_code(env, code, env.make_globals(None), None)


def _canonical(html: str) -> list[tuple[str, ...]]:
    """The document as (tag, sorted attributes with styles split, text, tail), whitespace
    folded: what a mail client renders, not how lxml happened to write it."""

    def fold(text: str | None) -> str:
        return " ".join((text or "").split())

    def style(value: str) -> str:
        return ";".join(sorted(p.strip() for p in value.split(";") if p.strip()))

    root = lxml_html.document_fromstring(html)
    out = []
    for el in root.iter():
        attrs = sorted((k, style(v) if k == "style" else v) for k, v in el.attrib.items())
        out.append((str(el.tag), repr(attrs), fold(el.text), fold(el.tail)))
    return out


def same_document(a: str, b: str) -> bool:
    """Whether two HTML documents have the same elements, attributes, styles and text."""
    return _canonical(a) == _canonical(b)
