"""The report as plain data (sections of notes, tables, code and images), rendered twice:
self-contained HTML (images as data URIs, every value escaped) and Markdown (images linked)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Text:
    """A paragraph."""

    text: str


@dataclass
class Note:
    """A short remark on a missing part (``info``) or a caveat that matters (``warning``)."""

    text: str
    level: str = "info"


@dataclass
class Table:
    """A table of text cells; rows in ``strong`` are emphasised."""

    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    strong: set[int] = field(default_factory=set)


@dataclass
class Code:
    """Preformatted text (the config)."""

    text: str
    language: str = ""


@dataclass
class Images:
    """One or more PNG files side by side, each with a caption (also its alt text)."""

    items: list[tuple[Path, str]]


Block = Text | Note | Table | Code | Images


@dataclass
class Section:
    """A titled part of the report; ``anchor`` is its id in the HTML."""

    anchor: str
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]


CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
max-width:1100px;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;border-bottom:1px solid #ddd;
padding-bottom:.2rem;margin-top:2rem}.sub{color:#666;margin:0 0 1rem}
nav ol{columns:2;margin:.3rem 0}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}tr.strong td{font-weight:600;background:#fff8e1}
caption{caption-side:bottom;color:#666;font-size:.85rem;text-align:left;padding-top:.2rem}
pre{background:#f6f8fa;border:1px solid #e1e4e8;padding:.8rem;overflow:auto;font-size:.82rem}
.note{border-left:4px solid #8ab4f8;background:#f1f6fe;padding:.4rem .8rem;margin:.6rem 0}
.warning{border-left-color:#d93025;background:#fdecea;font-weight:600}
.images{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
figure{margin:.4rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.85rem;max-width:520px}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:image/png;base64,`` URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(document: Document) -> str:
    """One self-contained HTML page: inline CSS, no scripts, no external references."""
    toc = "".join(
        f'<li><a href="#{_e(s.anchor)}">{_e(s.title)}</a></li>' for s in document.sections
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(document.title)}</title>",
        f"<style>{CSS.strip()}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{_e(document.title)}</h1>",
        f'<p class="sub">{_e(document.subtitle)}</p></header>',
        f"<nav><strong>Contents</strong><ol>{toc}</ol></nav>",
    ]
    for section in document.sections:
        parts.append(f'<section id="{_e(section.anchor)}">')
        parts.append(f"<h2>{_e(section.title)}</h2>")
        parts.extend(_html_block(block) for block in section.blocks)
        parts.append("</section>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _html_block(block: Block) -> str:
    if isinstance(block, Text):
        return f"<p>{_e(block.text)}</p>"
    if isinstance(block, Note):
        level = "note warning" if block.level == "warning" else "note"
        return f'<p class="{level}">{_e(block.text)}</p>'
    if isinstance(block, Code):
        language = f' class="language-{_e(block.language)}"' if block.language else ""
        return f"<pre><code{language}>{_e(block.text)}</code></pre>"
    if isinstance(block, Table):
        head = "".join(f"<th>{_e(cell)}</th>" for cell in block.header)
        body = []
        for index, row in enumerate(block.rows):
            cells = "".join(f"<td>{_e(cell)}</td>" for cell in row)
            css = ' class="strong"' if index in block.strong else ""
            body.append(f"<tr{css}>{cells}</tr>")
        caption = f"<caption>{_e(block.caption)}</caption>" if block.caption else ""
        rows = "".join(body)
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    figures = "".join(
        f'<figure><img src="{data_uri(path)}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
        for path, caption in block.items
    )
    return f'<div class="images">{figures}</div>'


def render_markdown(document: Document, base: Path) -> str:
    """The Markdown twin; images are linked relative to ``base`` (the Markdown file's folder)."""
    lines = [f"# {_md(document.title)}", "", f"*{_md(document.subtitle)}*", "", "## Contents", ""]
    lines += [f"{i}. [{_md(s.title)}](#{s.anchor})" for i, s in enumerate(document.sections, 1)]
    for section in document.sections:
        lines += ["", f'<a id="{_e(section.anchor)}"></a>', "", f"## {_md(section.title)}"]
        for block in section.blocks:
            lines += ["", *_markdown_block(block, base)]
    return "\n".join(lines) + "\n"


def _markdown_block(block: Block, base: Path) -> list[str]:
    if isinstance(block, Text):
        return [_md(block.text)]
    if isinstance(block, Note):
        prefix = "**Warning:** " if block.level == "warning" else "*Note:* "
        return [f"> {prefix}{_md(block.text)}"]
    if isinstance(block, Code):
        longest = max((len(run) for run in re.findall(r"`+", block.text)), default=0)
        fence = "`" * max(3, longest + 1)
        return [f"{fence}{block.language}", block.text.rstrip("\n"), fence]
    if isinstance(block, Table):
        lines = [_md_row(block.header), "|" + "|".join("---" for _ in block.header) + "|"]
        for index, row in enumerate(block.rows):
            strong = index in block.strong
            lines.append(_md_row([f"**{cell}**" if strong and cell else cell for cell in row]))
        return [*lines, *(["", f"*{_md(block.caption)}*"] if block.caption else [])]
    lines = []
    for path, caption in block.items:
        link = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.as_posix()
        lines += [f"![{_md(caption)}]({link})", ""]
    return lines[:-1]


def _md(text: object) -> str:
    """Text safe in Markdown: no raw HTML, no table breaks, one line."""
    escaped = html.escape(str(text), quote=False).replace("|", "\\|")
    return " ".join(escaped.splitlines())


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(_md(cell) for cell in cells) + " |"
