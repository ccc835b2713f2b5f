"""Synthetic dataset presets: image size, population sizes and how hard the cameras make it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SyntheticPreset:
    """Size and difficulty of one synthetic dataset; ranges are inclusive ``(low, high)``."""

    name: str
    height: int
    width: int
    cameras: int
    train_ids: int
    test_ids: int
    cameras_per_id: tuple[int, int]
    train_images_per_id: tuple[int, int]
    test_images_per_id: tuple[int, int]
    distractors: int
    junk: int
    lighting_spread: float  # 0 = every camera lit alike, 1 = strongly different cameras
    clutter: float  # colourfulness and contrast of the background scenes, 0 = flat grey
    view_change_rate: float  # chance a frame leaves its tracklet's walking direction
    occlusion_rate: float
    blur_rate: float
    downscale_rate: float
    noise_level: float  # sensor noise standard deviation, in units of full scale

    def __post_init__(self) -> None:
        low, high = self.cameras_per_id
        if not 2 <= low <= high <= self.cameras:  # train ids need two cameras, queries a second one
            raise ValueError(f"preset {self.name!r}: cameras_per_id {self.cameras_per_id} "
                             f"must lie within [2, {self.cameras}]")


PRESETS: dict[str, SyntheticPreset] = {
    "tiny": SyntheticPreset(
        name="tiny", height=64, width=32, cameras=4, train_ids=16, test_ids=16,
        cameras_per_id=(2, 3), train_images_per_id=(6, 10), test_images_per_id=(7, 10),
        distractors=8, junk=6, lighting_spread=0.3, clutter=0.5, view_change_rate=0.25,
        occlusion_rate=0.15, blur_rate=0.25, downscale_rate=0.2, noise_level=0.025,
    ),
    "demo": SyntheticPreset(
        name="demo", height=128, width=64, cameras=6, train_ids=100, test_ids=100,
        cameras_per_id=(2, 5), train_images_per_id=(12, 16), test_images_per_id=(12, 16),
        distractors=150, junk=100, lighting_spread=0.3, clutter=0.5, view_change_rate=0.25,
        occlusion_rate=0.15, blur_rate=0.25, downscale_rate=0.2, noise_level=0.025,
    ),
    "large": SyntheticPreset(
        name="large", height=128, width=64, cameras=6, train_ids=751, test_ids=750,
        cameras_per_id=(3, 6), train_images_per_id=(12, 23), test_images_per_id=(16, 28),
        distractors=2793, junk=3819, lighting_spread=0.3, clutter=0.5, view_change_rate=0.25,
        occlusion_rate=0.15, blur_rate=0.25, downscale_rate=0.2, noise_level=0.025,
    ),
}
