"""Matplotlib for the stages' figures (evaluation, outlet report): headless, and each
figure returned as PNG bytes so it can be logged to MLflow or inlined in an HTML page."""

from __future__ import annotations

import io
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend: imported on first use, never needs a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Every string we draw is data (outlet names, frame keys, target names): "$" must be a
    # dollar sign, not the start of mathtext, which raised on "A $\frac$ B" and lost the
    # whole report. Texts read this when they are created, so it covers ticks and legends.
    matplotlib.rcParams["text.parse_math"] = False
    matplotlib.rcParams["text.usetex"] = False
    return plt


def to_png(fig: Any) -> bytes:
    """The figure as PNG bytes; the figure is closed, so a long report does not leak them."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
