"""Deterministic changes of a portrait that leave the person recognisable: what an unlearned model that still
knows the face would answer through.

Each transform maps an RGB ``PIL.Image`` to an RGB image of the same size, with no randomness (the same portrait
always gives the same pixels), so a rerun asks exactly the same questions.

>>> from PIL import Image
>>> portrait = Image.new("RGB", (40, 40), (200, 30, 30))
>>> sorted(TRANSFORMS)
['blur', 'crop', 'flip', 'grayscale', 'jpeg']
>>> all(TRANSFORMS[name](portrait).size == (40, 40) for name in TRANSFORMS)
True
>>> TRANSFORMS["grayscale"](portrait).getpixel((0, 0))  # one grey level in all three channels
(81, 81, 81)
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

#: the central part kept by ``crop`` (then resized back to the portrait's size)
CROP_FRACTION = 0.8
#: the Gaussian blur's radius as a fraction of the portrait's shorter side
BLUR_FRACTION = 0.03
#: JPEG quality of the ``jpeg`` round trip (low: visible block artefacts)
JPEG_QUALITY = 10


def crop(image: Any) -> Any:
    """The central :data:`CROP_FRACTION` of each side, resized back (bicubic)."""
    from PIL import Image

    width, height = image.size
    keep_w, keep_h = round(width * CROP_FRACTION), round(height * CROP_FRACTION)
    left, top = (width - keep_w) // 2, (height - keep_h) // 2
    return image.crop((left, top, left + keep_w, top + keep_h)).resize((width, height), Image.Resampling.BICUBIC)


def blur(image: Any) -> Any:
    """Gaussian blur of radius :data:`BLUR_FRACTION` × the shorter side (at least one pixel)."""
    from PIL import ImageFilter

    return image.filter(ImageFilter.GaussianBlur(radius=max(1.0, BLUR_FRACTION * min(image.size))))


def grayscale(image: Any) -> Any:
    """Luminance only, as three equal channels."""
    return image.convert("L").convert("RGB")


def flip(image: Any) -> Any:
    """Mirrored left to right."""
    from PIL import ImageOps

    return ImageOps.mirror(image)


def jpeg(image: Any) -> Any:
    """Saved as JPEG at quality :data:`JPEG_QUALITY` and read back."""
    from PIL import Image

    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


#: every transform by name, in the order results.json lists them
TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "crop": crop, "blur": blur, "grayscale": grayscale, "flip": flip, "jpeg": jpeg,
}
