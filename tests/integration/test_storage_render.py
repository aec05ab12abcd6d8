"""Image transformations on the wire: ``/render/image/{authenticated,public,sign}/...``.

What the real Storage API (with imgproxy behind it) answers: the transformed
image with the original's ``ETag``, the imgproxy options in ``X-Transformations``,
ajv's messages for bad parameters, and the real server's messages for sources it
cannot render. Raw httpx against the stack; images are made with Pillow here.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpx
import pytest
from PIL import Image, features


def image_bytes(size: tuple[int, int], fmt: str = "PNG", mode: str = "RGB") -> bytes:
    """A ``size`` image: red on the left half, blue on the right (crops show)."""
    image = Image.new(mode, size, "red" if mode == "RGB" else 1)
    if mode == "RGB":
        image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def opened(res: httpx.Response) -> Image.Image:
    assert res.status_code == 200, res.text
    return Image.open(io.BytesIO(res.content))


def error_of(res: httpx.Response) -> tuple[int, str, str, str, str]:
    body = res.json()
    return res.status_code, body["statusCode"], body["error"], body["code"], body["message"]


@contextmanager
def bucket(api: httpx.Client, name: str, *, public: bool = False) -> Iterator[str]:
    assert api.post("/bucket", json={"name": name, "public": public}).status_code == 200
    try:
        yield name
    finally:
        with suppress(httpx.HTTPError):
            api.post(f"/bucket/{name}/empty", json={})
            api.request("DELETE", f"/bucket/{name}", json={})


def upload(api: httpx.Client, name: str, key: str, data: bytes, content_type: str) -> None:
    res = api.post(
        f"/object/{name}/{key}",
        content=data,
        headers={"content-type": content_type, "cache-control": "max-age=60"},
    )
    assert res.status_code == 200, res.text


@pytest.fixture
def photo(api: httpx.Client, unique_name: str) -> Iterator[str]:
    """A private bucket holding ``cat.png``: a 400x300 PNG stored as text/plain."""
    with bucket(api, unique_name) as name:
        # storage-js uploads a Buffer as text/plain: the renderer looks at the bytes.
        upload(api, name, "cat.png", image_bytes((400, 300)), "text/plain;charset=UTF-8")
        yield name


def test_authenticated_render_resizes_with_imgproxy_headers(api: httpx.Client, photo: str) -> None:
    original = api.get(f"/object/{photo}/cat.png")
    res = api.get(f"/render/image/authenticated/{photo}/cat.png?width=100&height=100")
    image = opened(res)
    assert (image.format, image.size) == ("PNG", (100, 100))
    # cover crops the middle of the 400x300 source: red on the left, blue on the right
    assert image.getpixel((5, 50)) == (255, 0, 0) and image.getpixel((95, 50)) == (0, 0, 255)
    h = res.headers
    assert h["content-type"] == "image/png"
    assert h["x-transformations"] == "height:100,width:100,resizing_type:fill"
    assert h["etag"] == original.headers["etag"]
    assert (h["cache-control"], h["accept-ranges"], h["x-robots-tag"]) == (
        "max-age=60", "bytes", "none",
    )  # fmt: skip
    assert int(h["content-length"]) == len(res.content)
    # no transformation at all: the image as it is, no X-Transformations
    res = api.get(f"/render/image/authenticated/{photo}/cat.png")
    assert opened(res).size == (400, 300) and "x-transformations" not in res.headers
    res = api.get(f"/render/image/authenticated/{photo}/cat.png?width=80&download=small.png")
    assert res.headers["content-disposition"] == (
        "attachment; filename=small.png; filename*=UTF-8''small.png"
    )


@pytest.mark.parametrize(
    ("query", "size", "resizing"),
    [
        ("width=100&height=100&resize=cover", (100, 100), "fill"),
        ("width=100&height=100&resize=contain", (100, 75), "fit"),
        ("width=100&height=100&resize=fill", (100, 100), "force"),
        ("width=100", (100, 75), "fill"),
        ("height=150&resize=contain", (200, 150), "fit"),
    ],
)
def test_resize_modes(
    api: httpx.Client, photo: str, query: str, size: tuple[int, int], resizing: str
) -> None:
    res = api.get(f"/render/image/authenticated/{photo}/cat.png?{query}")
    assert opened(res).size == size
    assert res.headers["x-transformations"].endswith(f"resizing_type:{resizing}")


def test_formats_and_quality(api: httpx.Client, photo: str) -> None:
    path = f"/render/image/authenticated/{photo}/cat.png"
    res = api.get(f"{path}?width=100&format=webp")
    assert (opened(res).format, res.headers["content-type"]) == ("WEBP", "image/webp")
    assert res.headers["x-transformations"] == "width:100,resizing_type:fill,format:webp"
    # a client that accepts WebP gets it unless it asks for the original format
    res = api.get(f"{path}?width=100", headers={"Accept": "image/webp,*/*"})
    assert opened(res).format == "WEBP"
    res = api.get(f"{path}?width=100&format=origin", headers={"Accept": "image/webp,*/*"})
    assert opened(res).format == "PNG"
    if features.check("avif"):
        res = api.get(f"{path}?width=100&format=avif")
        assert res.headers["content-type"] == "image/avif" and opened(res).size == (100, 75)
    # quality on a photo-like (noisy) JPEG: lower quality, fewer bytes
    noise = io.BytesIO()
    Image.effect_noise((200, 200), 64).convert("RGB").save(noise, format="JPEG", quality=95)
    upload(api, photo, "noise.jpg", noise.getvalue(), "image/jpeg")
    path = f"/render/image/authenticated/{photo}/noise.jpg"
    low = api.get(f"{path}?quality=20")
    high = api.get(f"{path}?quality=100")
    assert low.headers["x-transformations"] == "quality:20"
    assert (opened(low).format, opened(high).format) == ("JPEG", "JPEG")
    assert len(low.content) < len(high.content)


def test_sizes_are_clamped_and_never_enlarged(api: httpx.Client, photo: str) -> None:
    res = api.get(f"/render/image/authenticated/{photo}/cat.png?width=5000&height=0")
    assert res.headers["x-transformations"] == "width:2000,resizing_type:fill"
    assert opened(res).size == (400, 300)


def test_bad_parameters_are_ajv_errors(api: httpx.Client, photo: str) -> None:
    path = f"/render/image/authenticated/{photo}/cat.png"
    for query, message in (
        ("width=-1", "querystring/width must be >= 0"),
        ("height=abc", "querystring/height must be integer"),
        ("quality=10", "querystring/quality must be >= 20"),
        ("quality=101", "querystring/quality must be <= 100"),
        ("resize=stretch", "querystring/resize must be equal to one of the allowed values"),
        ("format=gif", "querystring/format must be equal to one of the allowed values"),
    ):
        res = api.get(f"{path}?{query}")
        assert error_of(res) == (400, "400", "Error", "InvalidRequest", message), query


def test_sources_that_cannot_render(api: httpx.Client, stack: Any, unique_name: str) -> None:
    with bucket(api, unique_name) as name:
        upload(api, name, "notes.txt", b"not an image at all", "text/plain")
        res = api.get(f"/render/image/authenticated/{name}/notes.txt?width=10")
        message = "The source image is invalid or unsupported for rendering"
        assert error_of(res) == (400, "400", "InvalidRequest", "InvalidRequest", message)
        res = api.get(f"/render/image/authenticated/{name}/missing.png?width=10")
        assert error_of(res) == (400, "404", "not_found", "NoSuchKey", "Object not found")
        if not stack.local:
            return  # the pixel bound below is the local renderer's (imgproxy's default)
        # 8000x7000 = 56 megapixels (a 1-bit PNG of a few KiB): refused before decoding
        upload(api, name, "huge.png", image_bytes((8000, 7000), mode="1"), "image/png")
        res = api.get(f"/render/image/authenticated/{name}/huge.png?width=10")
        message = "The source image resolution is too large to process"
        assert error_of(res) == (400, "400", "InvalidRequest", "InvalidRequest", message)


def test_authenticated_needs_a_token_public_needs_a_public_bucket(
    api: httpx.Client, bare: httpx.Client, photo: str, unique_name: str
) -> None:
    res = bare.get(f"/render/image/authenticated/{photo}/cat.png?width=10")
    assert error_of(res) == (400, "403", "Unauthorized", "AccessDenied", "Invalid Compact JWS")
    res = bare.get(f"/render/image/public/{photo}/cat.png?width=10")
    assert error_of(res) == (400, "404", "Bucket not found", "NoSuchBucket", "Bucket not found")
    with bucket(api, f"{unique_name}-pub", public=True) as public:
        upload(api, public, "a/cat.jpg", image_bytes((400, 300), "JPEG"), "image/jpeg")
        res = bare.get(f"/render/image/public/{public}/a/cat.jpg?width=40&quality=50")
        assert opened(res).size == (40, 30) and res.headers["content-type"] == "image/jpeg"
        assert res.headers["x-transformations"] == "width:40,resizing_type:fill,quality:50"


def test_signed_url_with_transform_renders_the_token_options(
    api: httpx.Client, bare: httpx.Client, photo: str
) -> None:
    res = api.post(
        f"/object/sign/{photo}/cat.png",
        json={"expiresIn": 60, "transform": {"width": 50, "height": 50, "quality": 60}},
    )
    url = res.json()["signedURL"]
    assert url.startswith(f"/render/image/sign/{photo}/cat.png?token=")
    # the query cannot change what the token says
    res = bare.get(f"{url}&width=10&download=")
    assert opened(res).size == (50, 50)
    assert res.headers["x-transformations"] == "height:50,width:50,resizing_type:fill,quality:60"
    assert res.headers["expires"].endswith("GMT") and "cache-control" not in res.headers
    assert res.headers["content-disposition"] == "attachment;"

    res = api.post(
        f"/object/sign/{photo}/cat.png",
        json={"expiresIn": 60, "transform": {"width": 80, "resize": "contain", "format": "webp"}},
    )
    res = bare.get(res.json()["signedURL"])
    assert (opened(res).format, opened(res).size) == ("WEBP", (80, 60))

    # no transform (or only format=origin): a plain download URL
    for body in ({"expiresIn": 60}, {"expiresIn": 60, "transform": {"format": "origin"}}):
        url = api.post(f"/object/sign/{photo}/cat.png", json=body).json()["signedURL"]
        assert url.startswith(f"/object/sign/{photo}/cat.png?token=")
    # a plain token on the render route renders the original
    token = url.split("token=")[1]
    res = bare.get(f"/render/image/sign/{photo}/cat.png", params={"token": token})
    assert opened(res).size == (400, 300) and "x-transformations" not in res.headers

    res = api.post(
        f"/object/sign/{photo}/cat.png", json={"expiresIn": 60, "transform": {"quality": 5}}
    )
    assert error_of(res)[4] == "body/transform/quality must be >= 20"
    res = bare.get(f"/render/image/sign/{photo}/cat.png", params={"token": "nope"})
    assert error_of(res)[:4] == (400, "400", "InvalidJWT", "InvalidJWT")
    res = bare.get(f"/render/image/sign/{photo}/other.png", params={"token": token})
    assert error_of(res)[:4] == (400, "400", "InvalidSignature", "InvalidSignature")
