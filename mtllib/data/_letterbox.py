"""Conversion to 8-bit RGB and letterboxing, shared by the photo loader and the procedural leaves."""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["letterbox", "letterbox_geometry", "to_rgb"]

# Resampling filter for every resize to the final size. Pillow's LANCZOS filter widens its
# support when downscaling, so it also antialiases.
RESAMPLE = Image.Resampling.LANCZOS


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert an image of any Pillow mode to 8-bit RGB.

    Transparent pixels (RGBA, LA, PA and palette images with a transparent colour) are
    composited onto black, the letterbox padding colour, because their colour values are
    arbitrary. 16-bit and 32-bit integer images ("I;16*", "I") are scaled from the 16-bit range
    to 8 bits (value / 257), since Pillow's own conversion clips them at 255. Floating-point
    images ("F") are clipped to [0, 255]. Other modes (L, 1, P, CMYK, YCbCr, LAB, HSV) use
    Pillow's conversion.
    """
    mode = image.mode
    if mode == "RGB":
        return image

    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image).astype(np.float64)
        gray = np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2))

    if mode == "F":
        gray = np.clip(np.rint(np.asarray(image, dtype=np.float64)), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2))

    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode in ("PA", "LA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        black = Image.new("RGBA", image.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, image).convert("RGB")

    return image.convert("RGB")


def letterbox_geometry(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """Compute where a ``width`` x ``height`` image lands in a ``size`` x ``size`` letterbox.

    Returns ``(new_width, new_height, left, top)``: the scaled size, which keeps the aspect
    ratio and makes the longer side ``size``, and the offset that centres it. Where the padding
    is odd, the extra pixel goes to the right or bottom.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    scale = size / max(width, height)
    new_width = min(size, max(1, round(width * scale)))
    new_height = min(size, max(1, round(height * scale)))
    return new_width, new_height, (size - new_width) // 2, (size - new_height) // 2


def letterbox(image: Image.Image, size: int) -> Image.Image:
    """Fit an image into a ``size`` x ``size`` RGB square, keeping its aspect ratio.

    The image is converted with :func:`to_rgb`, resized with a Lanczos filter so that its
    longer side is ``size``, centred, and padded with zeros (black). The photo loader and the
    procedural leaves both go through this function.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")

    rgb = to_rgb(image)
    new_width, new_height, left, top = letterbox_geometry(rgb.width, rgb.height, size)
    if (new_width, new_height) != rgb.size:
        rgb = rgb.resize((new_width, new_height), RESAMPLE)

    canvas = Image.new("RGB", (size, size), (0, 0, 0))
    canvas.paste(rgb, (left, top))
    return canvas
