"""``rura report``: a run directory as one self-contained HTML page and its Markdown twin."""

from rura.report.build import write_report

__all__ = ["write_report"]
