"""The sync link as a QR code, drawn here as SVG (segno: pure Python, no image library, no network).

Drawn on the server rather than by a vendored script: one small, well-kept dependency, and the
browser only shows an image.
"""

from __future__ import annotations

import io

import segno


def link_qr_svg(link: str) -> bytes:
    """An SVG QR code of `link` (error correction M: readable from a screen at an angle)."""
    code = segno.make(link, error="m", micro=False)
    out = io.BytesIO()
    # No size in the SVG: the page sizes the image; black on white whatever the theme, as cameras need.
    code.save(out, kind="svg", scale=4, border=4, xmldecl=False, omitsize=True, dark="#000", light="#fff")
    return out.getvalue()
