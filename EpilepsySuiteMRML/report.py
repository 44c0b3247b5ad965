"""The demo's HTML summary page: sections of text, pictures and small tables."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from epilepsy_suite.io import atomic_output


@dataclass
class Section:
    title: str
    text: str
    images: list[Path] = field(default_factory=list)
    records: list[Mapping[str, object]] | None = None


class SummaryPage:
    """Collects sections and writes one self-contained HTML page (pictures linked relatively)."""

    def __init__(self, title: str):
        self.title = title
        self.sections: list[Section] = []

    def add_section(
        self,
        title: str,
        text: str,
        images: Sequence[str | os.PathLike[str]] = (),
        records: Sequence[Mapping[str, object]] | None = None,
    ) -> None:
        self.sections.append(
            Section(title, text, [Path(image) for image in images], list(records) if records else None)
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        parts = [
            "<!DOCTYPE html>",
            "<html><head><meta charset='utf-8'>",
            f"<title>{html.escape(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
            "img{max-width:48%;margin:4px;border:1px solid #ccc}table{border-collapse:collapse;font-size:90%}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        for section in self.sections:
            parts.append(f"<h2>{html.escape(section.title)}</h2>")
            parts.extend(f"<p>{html.escape(paragraph)}</p>" for paragraph in section.text.split("\n\n") if paragraph)
            for image in section.images:
                source = os.path.relpath(image, path.parent)
                parts.append(f"<img src='{html.escape(source)}' alt='{html.escape(image.stem)}'>")
            if section.records:
                columns = list(section.records[0].keys())
                parts.append("<table><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in columns) + "</tr>")
                for record in section.records:
                    cells = "".join(f"<td>{html.escape(_format(record.get(c)))}</td>" for c in columns)
                    parts.append(f"<tr>{cells}</tr>")
                parts.append("</table>")
        parts.append("</body></html>")
        with atomic_output(path) as temporary:
            temporary.write_text("\n".join(parts), encoding="utf-8")
        return path


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
