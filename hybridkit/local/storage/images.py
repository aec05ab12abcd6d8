"""Image transformations: what imgproxy does behind the real ``/render/image`` routes, with Pillow.

The real server turns the query (or a signed URL's token) into imgproxy options and
streams imgproxy's answer; here :class:`Transform` holds the same options and
:func:`render` does the work with Pillow. What the wire shows is the real server's:

* ``width``/``height`` are clamped to 1..2000 (``IMAGE_TRANSFORMATION_LIMIT_*_SIZE``);
  0 or absent means "keep the aspect ratio";
* ``resize``: ``cover`` (default; imgproxy ``fill``: fill the box, crop the rest),
  ``contain`` (``fit``: inside the box), ``fill`` (``force``: exactly the box);
  images are never enlarged (imgproxy's default);
* ``format``: ``origin`` keeps the source's format, ``webp``/``avif`` convert; with
  no format, a client that accepts ``image/webp`` gets WebP (Supabase runs imgproxy
  with WebP detection on); ``quality`` 20..100 (default 80);
* the ``X-Transformations`` header lists imgproxy's options
  (``height:200,width:200,resizing_type:fill,quality:60``).

Decoding is bounded: the source's pixel count is read from its header and refused
above :data:`MAX_SOURCE_PIXELS` (imgproxy's ``IMGPROXY_MAX_SRC_RESOLUTION``, 50
megapixels) before any pixel is decoded. :func:`render` is CPU work: callers run it
in a worker thread (:func:`render_in_thread`), a few at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError, features

from hybridkit.local.storage.errors import ImageProcessingError

__all__ = [
    "MAX_SIZE",
    "MAX_SOURCE_PIXELS",
    "TRANSFORM_PROPERTIES",
    "RenderedImage",
    "Transform",
    "render",
    "render_in_thread",
]

MIN_SIZE = 1
MAX_SIZE = 2000
MAX_SOURCE_PIXELS = 50_000_000
DEFAULT_QUALITY = 80

_RESIZING = {"cover": "fill", "contain": "fit", "fill": "force"}
_GRAVITIES = ["no", "so", "ea", "we", "noea", "nowe", "soea", "sowe", "ce", "sm", "fp"]
# Where a crop is anchored for each imgproxy gravity: (x, y) in 0..1.
_ANCHORS = {
    "no": (0.5, 0.0), "so": (0.5, 1.0), "ea": (1.0, 0.5), "we": (0.0, 0.5),
    "noea": (1.0, 0.0), "nowe": (0.0, 0.0), "soea": (1.0, 1.0), "sowe": (0.0, 1.0),
}  # fmt: skip
_MIME = {
    "JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "AVIF": "image/avif",
    "GIF": "image/gif", "BMP": "image/bmp", "TIFF": "image/tiff", "ICO": "image/x-icon",
}  # fmt: skip
_UNSUPPORTED = "The source image is invalid or unsupported for rendering"

# The query's (and a sign request's ``transform``) schema, as the real route declares it.
TRANSFORM_PROPERTIES: dict[str, Any] = {
    "height": {"type": "integer", "minimum": 0},
    "width": {"type": "integer", "minimum": 0},
    "resize": {"type": "string", "enum": ["cover", "contain", "fill"]},
    "format": {"type": "string", "enum": ["origin", "avif", "webp"]},
    "quality": {"type": "integer", "minimum": 20, "maximum": 100},
    "gravity": {"type": "string", "enum": _GRAVITIES},
    "x_offset": {"type": "number"},
    "y_offset": {"type": "number"},
}


def _clamp(value: int) -> int:
    return min(max(value, MIN_SIZE), MAX_SIZE)


@dataclass(frozen=True)
class Transform:
    """The transformation options of one render (imgproxy's, as the real server sends them).

    Example::

        Transform.from_options({"width": 200, "height": 200}).segments()
        # ['height:200', 'width:200', 'resizing_type:fill']
    """

    # the box (None or 0: keep the aspect ratio) and how to fit into it
    width: int | None = None
    height: int | None = None
    resize: str | None = None

    # the output: origin/webp/avif, 20..100
    format: str | None = None
    quality: int | None = None

    # where a cover crop is anchored
    gravity: str | None = None
    x_offset: float | None = None
    y_offset: float | None = None

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Transform:
        """From a validated query or ``transform`` object (unknown keys ignored)."""
        return cls(**{name: options[name] for name in TRANSFORM_PROPERTIES if name in options})

    @classmethod
    def from_token(cls, text: str) -> Transform:
        """From a signed URL's ``transformations`` claim (``height:100,resize:cover,...``)."""
        values: dict[str, Any] = {}
        for param in text.split(","):
            name, _, rest = param.partition(":")
            value, _, offsets = rest.partition(":")
            if not value:
                continue
            if name in ("height", "width", "quality"):
                number = _leading_int(value)
                if number is not None:
                    values[name] = number
            elif name in ("resize", "format"):
                values[name] = value
            elif name == "gravity":
                values[name] = value
                x, _, y = offsets.partition(":")
                for key, raw in (("x_offset", x), ("y_offset", y)):
                    with contextlib.suppress(ValueError):
                        values[key] = float(raw)
        return cls(**values)

    def segments(self, *, keep_original: bool = False) -> list[str]:
        """imgproxy's options; ``keep_original`` gives the form a signed token stores."""
        out: list[str] = []
        if self.height:
            out.append(f"height:{_clamp(self.height)}")
        if self.width:
            out.append(f"width:{_clamp(self.width)}")
        if self.width or self.height:
            if keep_original:
                # The real server writes JavaScript's ``undefined`` when no resize was asked.
                out.append(f"resize:{self.resize if self.resize is not None else 'undefined'}")
            else:
                out.append(f"resizing_type:{_RESIZING.get(self.resize or '', 'fill')}")
        if self.quality:
            out.append(f"quality:{self.quality}")
        if self.format and self.format != "origin":
            out.append(f"format:{self.format}")
        if self.gravity == "sm":
            out.append("gravity:sm")
        elif self.gravity == "fp":
            if not (_unit(self.x_offset) and _unit(self.y_offset)):
                raise ImageProcessingError(
                    400,
                    "Focal point requires x and y coordinates within 0-1 range",
                    code="InvalidParameter",
                )
            out.append(f"gravity:fp:{_js(self.x_offset)}:{_js(self.y_offset)}")
        elif self.gravity:
            if self.x_offset is None and self.y_offset is None:
                out.append(f"gravity:{self.gravity}")
            else:
                out.append(
                    f"gravity:{self.gravity}:{_js(self.x_offset or 0)}:{_js(self.y_offset or 0)}"
                )
        return out


def _leading_int(text: str) -> int | None:
    """JavaScript's ``parseInt(text, 10)`` (``None`` for NaN)."""
    digits = ""
    for index, char in enumerate(text.strip()):
        if char.isdigit() or (index == 0 and char in "+-"):
            digits += char
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return None


def _unit(value: float | None) -> bool:
    return value is not None and 0 <= value <= 1


def _js(value: float | None) -> str:
    """A number as JavaScript prints it (``1`` not ``1.0``)."""
    if value is None:
        return "0"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class RenderedImage:
    """The transformed image: its bytes and their MIME type."""

    body: bytes
    mimetype: str


def _output_format(transform: Transform, source: str, accept: str) -> str:
    if transform.format == "webp":
        return "WEBP"
    if transform.format == "avif" and features.check("avif"):
        return "AVIF"
    if transform.format is None and "image/webp" in accept:
        return "WEBP"
    return source if source in _MIME else "PNG"


def _target_size(transform: Transform, width: int, height: int) -> tuple[int, int, int, int]:
    """(scaled width, scaled height, box width, box height); never larger than the source."""
    box_w = _clamp(transform.width) if transform.width else 0
    box_h = _clamp(transform.height) if transform.height else 0
    resizing = _RESIZING.get(transform.resize or "", "fill")
    if not box_w and not box_h:
        return width, height, width, height
    if resizing == "force":
        new_w = min(box_w, width) if box_w else width
        new_h = min(box_h, height) if box_h else height
        return new_w, new_h, new_w, new_h
    given = [box / side for box, side in ((box_w, width), (box_h, height)) if box]
    scale = max(given) if resizing == "fill" else min(given)
    scale = min(scale, 1.0)
    new_w = max(1, round(width * scale))
    new_h = max(1, round(height * scale))
    if resizing == "fit":
        return new_w, new_h, new_w, new_h
    return new_w, new_h, min(box_w or new_w, new_w), min(box_h or new_h, new_h)


def _crop(image: Image.Image, transform: Transform, box_w: int, box_h: int) -> Image.Image:
    width, height = image.size
    if (box_w, box_h) == (width, height):
        return image
    anchor_x, anchor_y = _ANCHORS.get(transform.gravity or "", (0.5, 0.5))
    if transform.gravity == "fp" and transform.x_offset is not None:
        anchor_x, anchor_y = transform.x_offset, transform.y_offset or 0.5
    left = round((width - box_w) * anchor_x)
    top = round((height - box_h) * anchor_y)
    return image.crop((left, top, left + box_w, top + box_h))


def render(path: Path, transform: Transform, *, accept: str = "") -> RenderedImage:
    """Transform the image stored at ``path`` (CPU work: call it off the event loop).

    Raises:
        ImageProcessingError: the bytes are no image Pillow reads, or the source has
            more than :data:`MAX_SOURCE_PIXELS` pixels (the real server's messages).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as source:
                width, height = source.size
                if width * height > MAX_SOURCE_PIXELS:
                    raise ImageProcessingError(
                        400, "The source image resolution is too large to process"
                    )
                source_format = source.format or "PNG"
                source.load()
                image = ImageOps.exif_transpose(source)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ImageProcessingError(400, _UNSUPPORTED) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageProcessingError(
                400, "The source image resolution is too large to process"
            ) from None
    width, height = image.size
    new_w, new_h, box_w, box_h = _target_size(transform, width, height)
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), Image.Resampling.LANCZOS)
    image = _crop(image, transform, box_w, box_h)

    target = _output_format(transform, source_format, accept)
    quality = transform.quality or DEFAULT_QUALITY
    options: dict[str, Any] = {}
    if target in ("JPEG", "WEBP", "AVIF"):
        options["quality"] = quality
    if target == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    elif target in ("WEBP", "AVIF") and image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGBA")
    out = io.BytesIO()
    image.save(out, format=target, **options)
    return RenderedImage(body=out.getvalue(), mimetype=_MIME[target])


async def render_in_thread(
    path: Path, transform: Transform, *, accept: str, slots: asyncio.Semaphore
) -> RenderedImage:
    """:func:`render` in a worker thread, holding one of ``slots`` (each render holds a
    decoded image: up to 200 MB at 50 megapixels)."""
    async with slots:
        return await asyncio.to_thread(render, path, transform, accept=accept)
