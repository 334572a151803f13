"""The dashboard renders: the MLflow UI, a training run's evaluation report and the
outlet report, opened in headless Chromium and checked from screenshots.

A real `mlflow server` on 127.0.0.1 serves a temp sqlite store holding a real baseline
training run (with its HTML report and PNG plots) and a real report run. Chromium is
Debian's package driven by Playwright (never `playwright install`); where either is
missing the test skips and says why. Pixels, not only the DOM: a page that loads its
markup but paints nothing (a broken bundle, an image that does not decode) still fails.
Both reports' tables are also checked by their computed styles, so a stylesheet the
browser drops (a CSS typo) fails too.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest

pytestmark = pytest.mark.slow

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def _chromium() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no Chromium executable on PATH (Debian: apt-get install chromium; `make setup` "
        "does this when apt-get is usable)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _painted(img: np.ndarray) -> tuple[float, int]:
    """Share of pixels that differ from the most common (background) colour, and how
    many distinct colours there are."""
    flat = img.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    return 1 - counts.max() / len(flat), len(colours)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, root: Path):
    """A sqlite store with one baseline training run and one outlet-report run."""
    _chromium()  # skip before the training when there is nothing to look with
    from pipelines.config import IngestConfig, LabelConfig, ReportConfig, TrainConfig
    from pipelines.ingest import ingest
    from pipelines.label import run_label
    from pipelines.report import run_report
    from pipelines.train import run_train

    tmp = tmp_path_factory.mktemp("dash")
    old_cwd, old_uri = Path.cwd(), os.environ.get("MLFLOW_TRACKING_URI")
    os.chdir(tmp)
    uri = f"sqlite:///{tmp / 'mlruns.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    work = tmp / "work"
    try:
        ingest([root / "data" / "raw"], work, IngestConfig())
        lcfg = LabelConfig(
            codebook=str(root / "configs/codebooks/mfc.yaml"),
            stance=str(root / "configs/stance.yaml"),
            gold=str(root / "data/gold/gold.jsonl"),
            annotations=None,
            splits=str(root / "data/gold/splits.json"),
            embedding_lf=False,
            bootstrap=0,
        )
        run_label(work / "documents.parquet", work, lcfg)
        train = run_train(
            TrainConfig(
                task="frames",
                labels=str(work / "labels.parquet"),
                documents=str(work / "documents.parquet"),
                output=str(work / "models"),
                codebook=lcfg.codebook,
                stance=lcfg.stance,
                splits=lcfg.splits,
                bootstrap=50,
            ),
        )
        report = run_report(
            [str(work / "labels.parquet")],
            work / "report",
            ReportConfig(stance=lcfg.stance),
        )
        yield {"tmp": tmp, "uri": uri, "train": train["run_id"], "report": report.run_id}
    finally:
        os.chdir(old_cwd)
        if old_uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old_uri


@pytest.fixture(scope="module")
def server(store):
    """`mlflow server` over the store, on a free loopback port; stopped after the module."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            store["uri"],
            "--default-artifact-root",
            (store["tmp"] / "mlartifacts").as_uri(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=store["tmp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline:
            proc.terminate()
            pytest.fail("mlflow server did not answer /health within 60 s")
        time.sleep(0.5)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True)
        try:
            yield b
        finally:
            b.close()


def _run_url(server: str, run_id: str, tail: str = "") -> str:
    run = mlflow.get_run(run_id)
    return f"{server}/#/experiments/{run.info.experiment_id}/runs/{run_id}{tail}"


def test_run_page_shows_the_run(server, store, browser, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(_run_url(server, store["train"]))
    page.get_by_text("frames-baseline").first.wait_for(timeout=30_000)
    page.get_by_text("test_micro_f1").first.wait_for(timeout=30_000)
    shot = page.screenshot(path=str(tmp_path / "run_page.png"))
    painted, colours = _painted(_pixels(shot))
    assert painted > 0.05 and colours > 50, (painted, colours)
    page.close()


def _artifact_image(
    server: str, run_id: str, artifact: str, alt: str, browser, out: Path
) -> np.ndarray:
    """Open an HTML artifact in the MLflow UI's artifact viewer and return the pixels of
    the screenshot where one of its plots is on screen.

    The viewer shows the page in an iframe and may re-render it while the run's data
    arrives, so the screenshot is retaken (for up to 30 s) until the plot's region is
    painted; a plot that never shows fails.
    """
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(_run_url(server, run_id, f"/artifacts/{artifact}"))
    iframe = page.locator("iframe.mlflow-html-iframe")
    img = page.frame_locator("iframe.mlflow-html-iframe").locator(f"img[alt='{alt}']")
    deadline = time.time() + 30
    crop = np.zeros((0, 0, 3), dtype=np.uint8)
    while time.time() < deadline:
        img.wait_for(state="visible", timeout=30_000)
        natural = img.evaluate("el => el.complete && el.naturalWidth")
        assert natural and natural > 100, f"{alt}: image did not decode"
        img.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        fb, ib = iframe.bounding_box(), img.bounding_box()
        if fb and ib:
            x0, y0 = max(fb["x"], ib["x"], 0), max(fb["y"], ib["y"], 0)
            x1 = min(fb["x"] + fb["width"], ib["x"] + ib["width"], 1400)
            y1 = min(fb["y"] + fb["height"], ib["y"] + ib["height"], 1400)
            shot = page.screenshot(path=str(out))
            crop = _pixels(shot)[int(y0) : int(y1), int(x0) : int(x1)]
            if crop.size and _painted(crop)[1] > 30:
                break
        page.wait_for_timeout(1000)
    page.close()
    return crop


def test_training_report_and_its_plots_render(server, store, browser, tmp_path: Path) -> None:
    img = _artifact_image(
        server,
        store["train"],
        "evaluation_report.html",
        "pr curves",
        browser,
        tmp_path / "pr.png",
    )
    assert img.shape[0] > 150 and img.shape[1] > 200, img.shape
    painted, colours = _painted(img)
    assert painted > 0.03 and colours > 30, (painted, colours)


def test_outlet_report_renders_its_stacked_frame_plot(
    server, store, browser, tmp_path: Path
) -> None:
    img = _artifact_image(
        server,
        store["report"],
        "outlet_report.html",
        "Primary frame shares over time, per outlet",
        browser,
        tmp_path / "frames.png",
    )
    assert img.shape[0] > 300 and img.shape[1] > 400, img.shape
    painted, colours = _painted(img)
    assert painted > 0.15 and colours > 40, (painted, colours)
    # The stacked bars use the frame palette: many saturated pixels, not just grey text.
    sat = img.max(axis=2).astype(int) - img.min(axis=2).astype(int)
    assert (sat > 60).mean() > 0.05


# What html_report's stylesheet sets, as the browser computes it: a typo in the CSS (an
# f-string's doubled braces) once voided every rule after the first, silently.
TABLE_STYLE = {
    "collapse": "collapse",
    "font": "13px",
    "th_bg": "rgb(243, 243, 243)",
    "td_border": "solid 1px rgb(204, 204, 204)",
    "td_pad": "6px",
}
COMPUTED = """el => {
    const t = getComputedStyle(el);
    const th = getComputedStyle(el.querySelector('th'));
    const td = getComputedStyle(el.querySelector('td'));
    return {collapse: t.borderCollapse, font: t.fontSize, th_bg: th.backgroundColor,
            td_border: `${td.borderTopStyle} ${td.borderTopWidth} ${td.borderTopColor}`,
            td_pad: td.paddingLeft};
}"""


@pytest.mark.parametrize(
    ("run", "artifact"),
    [("train", "evaluation_report.html"), ("report", "outlet_report.html")],
)
def test_report_tables_get_their_styles(server, store, browser, run, artifact) -> None:
    """Computed styles of the first table of each HTML report, and its pixels: the header
    row's grey is painted, so the styles reach the screen, not only the DOM."""
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(_run_url(server, store[run], f"/artifacts/{artifact}"))
    table = page.frame_locator("iframe.mlflow-html-iframe").locator("table").first
    table.wait_for(state="visible", timeout=30_000)
    table.scroll_into_view_if_needed()
    assert table.evaluate(COMPUTED) == TABLE_STYLE
    img = _pixels(table.screenshot())
    grey = (img == np.array([243, 243, 243])).all(axis=2).mean()
    assert grey > 0.02, grey  # the th background, painted
    page.close()
