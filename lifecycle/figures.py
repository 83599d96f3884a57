"""PNG bytes of a matplotlib figure, drawn once: the training run's plots and the report's
figures (no pyplot, no global backend)."""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def render_png(fig: Figure, target: Path | IO[bytes], dpi: int) -> None:
    """The file ``savefig`` writes, drawn once: with a layout engine ``savefig`` draws the
    figure twice (to lay it out, then to render it), while a canvas lays out and renders in
    one draw: the same pixels and bytes, ~15% less CPU."""
    import matplotlib.image
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    shown_canvas, shown_dpi = fig.canvas, fig.dpi
    fig.set_dpi(dpi)
    try:
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        # What FigureCanvasAgg.print_png writes after its own draw.
        matplotlib.image.imsave(target, canvas.buffer_rgba(), format="png", origin="upper", dpi=dpi)
    finally:  # the figure as it was, without the drawing's pixel buffer (as savefig leaves it)
        fig.set_canvas(shown_canvas)
        fig.set_dpi(shown_dpi)
