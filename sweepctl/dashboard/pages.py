"""The dashboard's HTML: two page shells that ``static/dashboard.js`` fills from the JSON
endpoints, and the stylesheet (the report's, plus what a live page adds).

Every piece of user data written here goes through :func:`html.escape`; the script writes
what it receives as text (``textContent``), never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from sweepctl.results.report.html import CSS as REPORT_CSS
from sweepctl.results.report.theme import BEST_COLOUR, STATE_COLOURS

if TYPE_CHECKING:
    from sweepctl.records import Sweep


@dataclass(frozen=True)
class PageInfo:
    csrf: str
    read_only: bool
    where: str  # the store, redacted


def _page(info: PageInfo, title: str, body: str, *, kind: str, sweep: str = "") -> str:
    read_only = ' data-read-only="1"' if info.read_only else ""
    where = f'<span class="where">{escape(info.where)}</span>' if info.where else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{escape(info.csrf)}">
<title>{escape(title)}</title>
<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/dashboard.js" defer></script>
<script src="/static/plotly.min.js" id="plotly-js" async></script>
</head>
<body data-page="{kind}" data-sweep="{escape(sweep)}"{read_only}>
<header class="bar"><a class="brand" href="/">sweepctl</a><span class="crumb">{escape(title)}</span>
<span class="live" id="live" title="updates every second">live</span>{where}</header>
<main>
{body}
</main>
</body>
</html>
"""


def sweeps_page(info: PageInfo) -> str:
    body = """<h1>Sweeps</h1>
<section><div class="scroll"><table id="sweeps" class="sortable">
<thead><tr><th>sweep</th><th>state</th><th>method</th><th>progress</th><th>runs by state</th>
<th class="num">best</th><th class="num">agents</th><th>created</th></tr></thead>
<tbody></tbody></table></div>
<p id="empty" hidden>No sweeps in this store yet: create one with
<code>sweepctl create FILE</code>.</p>
</section>"""
    return _page(info, "Sweeps", body, kind="sweeps")


def sweep_page(info: PageInfo, sweep: Sweep) -> str:
    controls = ""
    if not info.read_only:
        buttons = "".join(
            f'<button type="button" class="control {a}" data-action="{a}" hidden>{a}</button>'
            for a in ("pause", "resume", "stop", "cancel")
        )
        controls = f'<div class="controls">{buttons}<span id="said" role="status"></span></div>'
    body = f"""<div class="title"><div><h1 id="label">{escape(sweep.label)}</h1>
<p class="sub"><span id="sweep-id">{escape(sweep.id)}</span>
 · <span id="method">{escape(sweep.method)}</span>
 · <span id="metric"></span> · <span id="state" class="badge">{escape(sweep.state)}</span>
<span id="reason"></span></p></div>{controls}</div>
<div class="cards">
<div class="card"><div class="k">runs</div><div class="v" id="c-runs">-</div>
<div class="bar-out"><div class="bar-in" id="c-bar"></div></div></div>
<div class="card"><div class="k">running</div><div class="v" id="c-running">-</div></div>
<div class="card"><div class="k">agents alive</div><div class="v" id="c-agents">-</div></div>
<div class="card"><div class="k">best</div><div class="v best" id="c-best">-</div></div>
<div class="card"><div class="k">stopped early</div><div class="v" id="c-early">-</div>
<div class="note" id="c-saved"></div></div>
</div>
<section id="curves-section"><h2>Metric over steps, every run</h2>
<div class="plot" id="plot-curves"></div>
<p class="none" id="none-curves">No run has logged the metric yet.</p></section>
<div class="two">
<section id="best-section"><h2>Best run</h2>
<p class="none" id="none-best">No run has a value of the metric yet.</p>
<div id="best" hidden><p><b id="best-id"></b> <span id="best-value"></span></p>
<div class="copy"><button type="button" id="copy-json">copy as JSON</button>
<button type="button" id="copy-yaml">copy as YAML</button><span id="copied"></span></div>
<pre id="best-config"></pre></div></section>
<section id="log-section"><h2>Log of <span id="log-run">-</span></h2>
<p class="none" id="none-log">Click a run in the table to see the end of its output.</p>
<pre id="log" class="log" hidden></pre></section>
</div>
<section id="runs-section"><h2>Runs</h2>
<div class="filters"><label>state
<select id="state-filter"><option value="">all</option></select></label>
<span id="shown"></span></div>
<div class="scroll tall"><table id="runs" class="sortable">
<thead><tr></tr></thead><tbody></tbody></table></div>
</section>
<section id="best-so-far-section"><h2>Best so far</h2>
<div class="plot" id="plot-best-so-far"></div>
<p class="none" id="none-best-so-far">No scored runs yet.</p></section>
<section id="parallel-section"><h2>Parallel coordinates</h2>
<div class="plot" id="plot-parallel"></div>
<p class="none" id="none-parallel">No scored runs yet.</p></section>
<section id="importance-section"><h2>Parameter importance</h2>
<div class="plot" id="plot-importance"></div>
<p class="none" id="none-importance">Computing…</p></section>"""
    return _page(info, sweep.label, body, kind="sweep", sweep=sweep.id)


def not_found(info: PageInfo, message: str) -> str:
    body = (
        f"<h1>Not found</h1><section><p>{escape(message)}</p>"
        '<p><a href="/">all sweeps</a></p></section>'
    )
    return _page(info, "Not found", body, kind="missing")


def stylesheet() -> str:
    """The report's stylesheet with the live page's additions (state colours from the theme)."""
    badges = "\n".join(
        f".badge.s-{state} {{ background: {colour}1f; color: {colour}; border-color: {colour}66; }}"
        for state, colour in STATE_COLOURS.items()
    )
    return REPORT_CSS + EXTRA_CSS.replace("BEST", BEST_COLOUR) + badges + "\n"


EXTRA_CSS = """
header.bar { display: flex; align-items: center; gap: 14px; padding: 10px 28px;
  background: #1d2430; color: #e6e9ee; font-size: 14px; }
header.bar a.brand { color: white; font-weight: 700; text-decoration: none; letter-spacing: .2px; }
header.bar .crumb { color: #aab3c0; }
header.bar .where { margin-left: auto; color: #8d97a5; font-size: 12px; }
.live { font-size: 12px; color: #9fdfb0; }
.live::before { content: "●"; margin-right: 4px; }
.live.stale { color: #f0b46b; }
a { color: #2859a8; }
.title { display: flex; align-items: flex-start; justify-content: space-between; gap: 16px;
  flex-wrap: wrap; }
.sub { margin: 0; color: #5b6472; }
.badge { display: inline-block; padding: 0 8px; border: 1px solid #ccc; border-radius: 10px;
  font-size: 12px; font-weight: 600; line-height: 20px; background: #f3f4f6; }
.badge.sw-running { background: #1f77b41f; color: #1f77b4; }
.badge.sw-paused { background: #bcbd221f; color: #8a8b10; }
.badge.sw-stopped { background: #ff7f0e1f; color: #c25e00; }
.badge.sw-finished { background: #2ca02c1f; color: #2ca02c; }
.badge.sw-canceled { background: #d627281f; color: #d62728; }
.controls { display: flex; gap: 8px; align-items: center; margin-top: 10px; }
button { font: inherit; padding: 5px 14px; border-radius: 6px; border: 1px solid #c9ced6;
  background: white; cursor: pointer; }
button:hover { background: #f0f2f5; }
button.stop, button.cancel { border-color: #e5a3a3; color: #b22222; }
#said { color: #5b6472; font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px;
  margin: 16px 0; }
.card { background: white; border: 1px solid #e1e4e8; border-radius: 8px; padding: 12px 16px; }
.card .k { font-size: 12px; color: #6b7482; text-transform: uppercase; letter-spacing: .4px; }
.card .v { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .v.best { color: BEST; }
.card .note { font-size: 12px; color: #6b7482; }
.bar-out { height: 6px; background: #eceef1; border-radius: 3px; margin-top: 6px; }
.bar-in { height: 6px; background: #4c72b0; border-radius: 3px; width: 0; }
.progress { display: inline-block; width: 90px; height: 6px; background: #eceef1;
  border-radius: 3px; vertical-align: middle; margin-right: 8px; }
.progress > span { display: block; height: 6px; background: #4c72b0; border-radius: 3px; }
.plot { min-height: 260px; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 0 16px; }
@media (max-width: 900px) { .two { grid-template-columns: 1fr; } }
pre { background: #f6f8fa; border: 1px solid #e5e7eb; border-radius: 6px; padding: 10px 12px;
  overflow: auto; max-height: 320px; font-size: 12.5px; margin: 8px 0 0; }
pre.log { background: #161b22; color: #d7dde5; border-color: #161b22; }
.copy { display: flex; gap: 8px; align-items: center; }
#copied { color: #2ca02c; font-size: 13px; }
.none { color: #8a93a0; font-style: italic; }
.filters { display: flex; gap: 16px; align-items: center; margin-bottom: 6px; color: #5b6472; }
select { font: inherit; padding: 3px 6px; border-radius: 6px; border: 1px solid #c9ced6; }
.scroll.tall { max-height: 520px; overflow-y: auto; }
table.sortable th { position: sticky; top: 0; }
th.asc::after { content: " ▲"; font-size: 10px; }
th.desc::after { content: " ▼"; font-size: 10px; }
#runs tbody tr { cursor: pointer; }
#runs tbody tr.selected { background: #e8f0fe; }
#runs tbody tr.best td:first-child { color: BEST; font-weight: 700; }
.state-count { margin-right: 8px; white-space: nowrap; }
"""
