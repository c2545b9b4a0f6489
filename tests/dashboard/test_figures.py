"""The dashboard's curves are a figure description like the report's: both renderers draw it."""

from __future__ import annotations

import pytest
from dashboard_fixtures import fill

from sweepctl.dashboard.watch import report_data
from sweepctl.results.report.figures import run_curves
from sweepctl.results.report.html import plotly_figures


def curves_of(store, runs, **options):
    sweep_id, ids = fill(store, runs=runs)
    data = report_data(store.get_sweep(sweep_id), store.runs(sweep_id))
    return run_curves(data, **options), ids


def test_every_run_is_a_line_the_best_and_running_in_front(store) -> None:
    runs = [
        ({"model": "cnn", "lr": 0.1}, [0.5, 0.9], "finished"),
        ({"model": "mlp", "lr": 0.1}, [0.6, 0.7], "finished"),
        ({"model": "mlp", "lr": 0.01}, [0.2], "running"),
        ({"model": "cnn", "lr": 0.01}, [], "failed"),  # logged nothing: no line
    ]
    figure, ids = curves_of(store, runs)
    (panel,) = figure.panels
    assert [t.name.split(" ")[0] for t in panel.traces] == ids[:3]
    assert [t.y for t in panel.traces] == [(0.5, 0.9), (0.6, 0.7), (0.2,)]
    assert [t.front for t in panel.traces] == [True, False, True]
    assert panel.traces[0].colour == "#d62728"  # the best run, as the report draws it


def test_past_a_crowd_the_rest_share_one_series_with_gaps(store) -> None:
    runs = [({"model": "cnn", "lr": 0.1}, [i / 100, i / 50], "finished") for i in range(30)]
    figure, ids = curves_of(store, runs, apart=20)
    (panel,) = figure.panels
    shared, *own = panel.traces
    assert shared.name == "20 other runs" and not shared.legend
    assert shared.x.count(None) == 20 and len(shared.x) == 20 * 3  # two values and a gap
    # Lines of their own: the top ten (the best among them), drawn over the shared series.
    assert len(own) == 10
    assert {t.name.split(" ")[0] for t in own} == set(ids[-10:])


def test_both_renderers_draw_the_curves(store, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    np = pytest.importorskip("numpy")
    from PIL import Image

    from sweepctl.results.report.png import write_pngs

    runs = [({"model": "cnn", "lr": 0.1}, [i / 100, i / 50, i / 40], "finished") for i in range(30)]
    figure, _ = curves_of(store, runs, apart=20)
    (plot,) = plotly_figures(figure)
    assert plot["id"] == "plot-curves" and len(plot["data"]) == 11
    assert plot["data"][0]["x"].count(None) == 20  # gaps between the shared runs' lines
    (png,) = write_pngs([figure], tmp_path)
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[0] > 200 and pixels.var() > 0
