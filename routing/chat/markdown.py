"""Answers as HTML: Markdown (code blocks and tables included) rendered, then sanitised."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

# Raw HTML in an answer is shown as text, and nh3 removes what could still run or restyle the page.
_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")


def markdown_to_html(text: str) -> str:
    return nh3.clean(_renderer.render(text), link_rel="noopener noreferrer nofollow")
