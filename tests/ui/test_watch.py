"""`tui-mtl watch`: a streamed Keras fit plotted live, following new rows."""

from __future__ import annotations

from tests.test_live import BATCH, data, two_head_model
from tests.ui.conftest import wait_until
from tui_mtl.keras import LiveCallback


async def test_watch_plots_a_streamed_fit_and_follows_new_rows(tmp_path):
    from tui_mtl.ui.watch import WatchApp

    model = two_head_model()
    model.compile(optimizer="adam", loss={"a": "mse", "b": "mse"})
    x, y = data()
    run = tmp_path / "run"
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[LiveCallback(run, interval=0)])
    app = WatchApp(run, interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        # polls, not fixed pauses: on a loaded machine (CI beside another worker) a tick may come late
        await wait_until(lambda: set(app.plots) == {"a", "b"} and "finished" in app.status_text(),
                         what="the first fit plotted", timeout=30)
        app.plots["a"].render()
        assert len(app.plots["a"].last_data.train[0]) == 8
        assert "step 8" in app.status_text() and "finished" in app.status_text()
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[LiveCallback(run, interval=0)])
        # a second fit into the same folder goes on from step 8
        await wait_until(lambda: app.tail.series.step == 12, what="the second fit followed", timeout=30)
        assert app.tail.series.train["a"][0] == [float(s) for s in range(1, 13)]
        await pilot.press("l")
        assert app.plots["a"].log_scale
