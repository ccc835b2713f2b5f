"""Image decoding and augmentation on tensors, with TAO's parameters.

Training: resize, horizontal flip (``dataset.prob``), zero padding + random crop
(``dataset.padding``), normalisation (``pixel_mean``/``pixel_std``), random erasing
(``dataset.re_prob``, area 2-40 %, aspect 0.3-3.3, filled with the mean colour).
Each sample's randomness comes from its own seed (handed out by the sampler), so the
augmentation of an epoch does not depend on the number of workers and a resumed run
sees exactly the images an uninterrupted one would have seen.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from reid_core.errors import DatasetError


def decode_image(path: str) -> torch.Tensor:
    """RGB image as a uint8 tensor (3, H, W)."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as err:
        raise DatasetError(f"cannot decode image {path}: {str(err).splitlines()[0]}") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear (antialiased) resize of a uint8 (3, H, W) tensor; a no-op at the right size."""
    if image.shape[1:] == (height, width):
        return image
    scaled = F.interpolate(image[None].float(), size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return scaled[0].round_().clamp_(0, 255).to(torch.uint8)


@dataclass(frozen=True)
class ReidTransform:
    """Decode-side transform for one sample; ``train=False`` only resizes and normalises."""

    height: int
    width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    train: bool = False
    flip_prob: float = 0.5
    padding: int = 10
    erase_prob: float = 0.5

    def __call__(self, image: torch.Tensor, seed: int = 0) -> torch.Tensor:
        image = resize(image, self.height, self.width)
        rng = random.Random(seed) if self.train else None
        if rng is not None:
            if rng.random() < self.flip_prob:
                image = image.flip(-1)
            if self.padding > 0:
                image = self._pad_crop(image, rng)
        tensor = self.normalize(image)
        if rng is not None and rng.random() < self.erase_prob:
            self._erase(tensor, rng)
        return tensor

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (image.float().div_(255.0) - mean).div_(std)

    def _pad_crop(self, image: torch.Tensor, rng: random.Random) -> torch.Tensor:
        pad = self.padding
        padded = F.pad(image, (pad, pad, pad, pad))
        top = rng.randint(0, 2 * pad)
        left = rng.randint(0, 2 * pad)
        return padded[:, top : top + self.height, left : left + self.width]

    def _erase(self, tensor: torch.Tensor, rng: random.Random) -> None:
        _, height, width = tensor.shape
        area = height * width
        for _ in range(100):  # rejection sampling of a box that fits, as in the original method
            target = rng.uniform(0.02, 0.4) * area
            aspect = math.exp(rng.uniform(math.log(0.3), math.log(1 / 0.3)))
            h = int(round(math.sqrt(target * aspect)))
            w = int(round(math.sqrt(target / aspect)))
            if 0 < h < height and 0 < w < width:
                top = rng.randint(0, height - h)
                left = rng.randint(0, width - w)
                tensor[:, top : top + h, left : left + w] = 0.0  # 0 after normalisation = mean colour
                return
