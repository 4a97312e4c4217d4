"""Figures as self-contained PNG data URIs (no file, no network at view time)."""

from __future__ import annotations

import base64
import io

__all__ = ["png_bytes", "png_data_uri", "DPI"]

#: Resolution of report images: sharp on screen, a few hundred kB per figure.
DPI = 110


def png_bytes(fig, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def png_data_uri(fig, dpi: int = DPI) -> str:
    """``data:image/png;base64,...`` of the figure, for an ``<img src=...>``."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig, dpi)).decode("ascii")
