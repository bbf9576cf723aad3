"""Input images (img2img init images, inpainting masks): decoded safely once, stored as
PNG beside the outputs (so every replica reads what the ingress wrote) and named by
their content, so the same picture sent twice is one input and its jobs batch together."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
from dataclasses import dataclass

import fsspec
from PIL import Image, ImageOps, UnidentifiedImageError

from novagenia.config import CEILING_SIZE

FORMATS = {"PNG", "JPEG", "WEBP"}
MAX_PIXELS = CEILING_SIZE * CEILING_SIZE
INPUT_ID = re.compile(r"^[0-9a-f]{32}$")
DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|webp);base64,(.*)$", re.DOTALL)


class InvalidImage(ValueError):
    """Bytes that are not an image this server accepts, with a message for people."""


class InputNotFound(LookupError):
    """An input id this store does not hold."""


@dataclass(frozen=True)
class InputImage:
    id: str
    width: int
    height: int

    @property
    def url(self) -> str:
        return f"/api/v1/inputs/{self.id}.png"


def decode_image(data: bytes, max_bytes: int, keep_alpha: bool = False) -> Image.Image:
    """A PNG, JPEG or WebP within the byte and pixel limits, turned upright (EXIF
    orientation) and flattened to RGB (RGBA where it has alpha and `keep_alpha`);
    anything else is InvalidImage."""
    if len(data) > max_bytes:
        raise InvalidImage(f"the image is larger than {max_bytes // 2**20} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise InvalidImage(
                    f"{image.format or 'this'} images are not accepted: PNG, JPEG or WebP"
                )
            if image.width * image.height > MAX_PIXELS:
                raise InvalidImage(f"the image has more than {MAX_PIXELS} pixels")
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise InvalidImage(f"not a readable image: {exc}") from None
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        if keep_alpha:
            return image
        flat = Image.new("RGB", image.size, (0, 0, 0))
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image.convert("RGB")


def decode_data_url(url: str, max_bytes: int) -> Image.Image:
    match = DATA_URL.match(url)
    if match is None:
        raise InvalidImage("expected an input id or a data URL (data:image/png;base64,…)")
    try:
        data = base64.b64decode(match[2], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidImage("the data URL is not valid base64") from None
    return decode_image(data, max_bytes)


class InputStore:
    """Under `<output_uri>/_inputs/`: output job directories are hex ids, never this."""

    def __init__(self, output_uri: str) -> None:
        self.fs, root = fsspec.core.url_to_fs(output_uri)
        self.root = root.rstrip("/") + "/_inputs"

    def _path(self, input_id: str) -> str:
        if not INPUT_ID.match(input_id):
            raise InputNotFound(f"no input image {input_id!r}")
        return f"{self.root}/{input_id}.png"

    def save(self, image: Image.Image) -> InputImage:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
        input_id = hashlib.sha256(data).hexdigest()[:32]
        path = self._path(input_id)
        if not self.fs.exists(path):
            self.fs.makedirs(self.root, exist_ok=True)
            with self.fs.open(path, "wb") as handle:
                handle.write(data)
        return InputImage(input_id, image.width, image.height)

    def read(self, input_id: str) -> bytes:
        """The stored PNG; InputNotFound for an id this store does not hold."""
        try:
            with self.fs.open(self._path(input_id), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise InputNotFound(f"no input image {input_id!r}") from None

    def describe(self, input_id: str) -> InputImage:
        """Its size, from the PNG's header (the pixels stay undecoded)."""
        with Image.open(io.BytesIO(self.read(input_id))) as image:
            return InputImage(input_id, image.width, image.height)

    def load(self, input_id: str) -> Image.Image:
        image = Image.open(io.BytesIO(self.read(input_id)))
        image.load()
        return image.convert("RGB")
