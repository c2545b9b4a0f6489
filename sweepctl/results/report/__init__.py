"""Reports people can look at: ``runs.csv``, ``summary.md``, PNG plots and an interactive page.

One job per module: :mod:`.data` gathers the runs, :mod:`.stats` computes the numbers,
:mod:`.markdown` writes the text, :mod:`.figures` describes every figure once as plain data
(the model: :mod:`.figure`), and two renderers draw those descriptions: :mod:`.png`
(matplotlib) and :mod:`.html` (plotly.js). :mod:`.write` puts a report on disk.
"""

from sweepctl.results.report.data import ReportData, collect, default_out_dir
from sweepctl.results.report.figure import Figure
from sweepctl.results.report.figures import figures
from sweepctl.results.report.stats import parameter_importance, state_timeline
from sweepctl.results.report.theme import PLOTS
from sweepctl.results.report.write import write_report

__all__ = [
    "PLOTS",
    "Figure",
    "ReportData",
    "collect",
    "default_out_dir",
    "figures",
    "parameter_importance",
    "state_timeline",
    "write_report",
]
