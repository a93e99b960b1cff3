"""The report of a comparison over seeds: verdict, curves with seed bands, paired differences, the
settings and the command, as one self-contained HTML file or Markdown with PNGs. TF-free: it reads
the run folder (comparison.json and each branch's metrics.csv)."""

from tui_mtl.report.data import ReportData, read_report_data
from tui_mtl.report.html import write_html
from tui_mtl.report.markdown import write_markdown

__all__ = ["ReportData", "read_report_data", "write_html", "write_markdown"]
