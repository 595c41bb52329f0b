"""A small depth-tested renderer: hands as shaded, tapered capsules over textured backgrounds.

Each bone is a capsule between two joints whose radius tapers from one end to the other. Capsules are
rasterised in pixel space with a per-pixel depth (the capsule's front surface), so that one hand really
occludes the other, and shaded with a Lambert term from an approximate surface normal. Skin is two-toned
as on real hands: the palm side (where the surface normal meets the palm's normal) is lighter and pinker
than the back, so that which hand is in a picture (right or left, a mirror image of each other) can be
told from the picture, as on real frames, and not only from the pose. Pixel (u, v)
is the centre of column u, row v, the convention of the annotations (integer coordinates at pixel
centres, as OpenCV and the original loader use).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from interhand.geometry.camera import camera_to_pixel, world_to_camera
from interhand.skeleton import IH26M_WRIST_IN_HAND

__all__ = ["CameraView", "HandAppearance", "hand_capsules", "render_hands", "palm_normal", "make_background",
           "SKIN_TONES"]

SKIN_TONES = np.array([[226, 178, 146], [205, 146, 112], [176, 120, 88], [132, 86, 60], [238, 200, 170]],
                      dtype=np.float64)


@dataclass(frozen=True)
class CameraView:
    """A calibrated camera: world→camera rotation, centre (mm), focal and principal point (px), size."""

    camrot: np.ndarray
    campos: np.ndarray
    focal: np.ndarray
    princpt: np.ndarray
    width: int
    height: int


# The palm side's tone is the skin tone mixed half and half with this one; the back is a little darker.
_PALM_TINT_RGB = np.array([255.0, 205.0, 195.0])
_BACK_FACTOR = 0.86


@dataclass(frozen=True)
class HandAppearance:
    skin_rgb: np.ndarray  # (3,) float, 0..255
    sleeve_rgb: np.ndarray  # (3,) float, 0..255

    @property
    def palm_rgb(self) -> np.ndarray:
        return 0.5 * np.asarray(self.skin_rgb, dtype=np.float64) + 0.5 * _PALM_TINT_RGB

    @property
    def back_rgb(self) -> np.ndarray:
        return _BACK_FACTOR * np.asarray(self.skin_rgb, dtype=np.float64)


def palm_normal(joints_mm: np.ndarray, side: str) -> np.ndarray:
    """(3,) unit normal pointing out of the palm of one hand (21 joints, IH26M per-hand order, any frame).

    The palm is the plane of the wrist and the index and little finger bases; the fingers flex towards the
    palm side. The left hand is the right hand mirrored, which flips the cross product's sign.
    """
    wrist = joints_mm[IH26M_WRIST_IN_HAND]
    normal = np.cross(joints_mm[7] - wrist, joints_mm[19] - wrist)
    normal = normal if side == "left" else -normal
    return normal / (np.linalg.norm(normal) + 1e-9)


# Capsules of one hand in the IH26M per-hand order: (joint a, joint b, radius at a, radius at b), mm.
def _finger_capsules() -> list[tuple[int, int, float, float]]:
    capsules = []
    for finger in range(5):
        tip, third, second, base = 4 * finger, 4 * finger + 1, 4 * finger + 2, 4 * finger + 3
        thickness = {0: 1.12, 4: 0.85}.get(finger, 1.0)
        for joint_a, joint_b, radius_a, radius_b in ((IH26M_WRIST_IN_HAND, base, 12.0, 10.0), (base, second, 9.5, 8.6),
                                                     (second, third, 8.6, 7.6), (third, tip, 7.6, 6.6)):
            capsules.append((joint_a, joint_b, radius_a * thickness, radius_b * thickness))
    # Webs between the finger bases close the palm.
    capsules += [(7, 11, 10.0, 10.0), (11, 15, 10.0, 10.0), (15, 19, 9.0, 8.5), (3, 7, 8.0, 8.0)]
    return capsules


_FINGER_CAPSULES = _finger_capsules()


def hand_capsules(joints_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Capsules of one hand: (K, 2, 3) end points in the joints' frame, (K, 2) radii mm, (K,) is-sleeve flag.

    Args:
        joints_mm: (21, 3) one hand, IH26M per-hand order, any metric frame (mm).
    """
    ends = [(joints_mm[a], joints_mm[b]) for a, b, _, _ in _FINGER_CAPSULES]
    radii = [(ra, rb) for _, _, ra, rb in _FINGER_CAPSULES]
    wrist = joints_mm[IH26M_WRIST_IN_HAND]
    palm_centre = (wrist + joints_mm[7] + joints_mm[11] + joints_mm[15] + joints_mm[19]) / 5.0
    ends += [(wrist, palm_centre), (palm_centre, joints_mm[11]), (palm_centre, joints_mm[7]),
             (palm_centre, joints_mm[19]), (wrist, joints_mm[7]), (wrist, joints_mm[19])]
    radii += [(22.0, 22.0), (20.0, 15.0), (16.0, 12.0), (16.0, 11.0), (14.0, 12.0), (14.0, 11.0)]
    along = joints_mm[11] - wrist
    along = along / (np.linalg.norm(along) + 1e-9)
    elbow_side = wrist - 60.0 * along
    ends += [(wrist, elbow_side), (elbow_side, wrist - 160.0 * along)]
    radii += [(22.0, 24.0), (27.0, 31.0)]
    sleeve = np.zeros(len(ends), dtype=bool)
    sleeve[-1] = True
    return np.array(ends), np.array(radii), sleeve


def render_hands(background: np.ndarray, hands_world_mm: list[np.ndarray], sides: list[str],
                 appearances: list[HandAppearance], camera: CameraView,
                 light_dir: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Draw hands over a background.

    Args:
        background: (H, W, 3) uint8.
        hands_world_mm: one (21, 3) world-mm array per drawn hand, IH26M per-hand order.
        sides: "right" or "left", one per hand (which side of each capsule is the palm's).
        appearances: one per hand.
        camera: the view.
        light_dir: (3,) unit vector in camera coordinates pointing from the scene towards the light.

    Returns:
        (H, W, 3) uint8 image and (H, W) bool mask of hand (and forearm) pixels.
    """
    height, width = background.shape[:2]
    image = background.astype(np.float32)
    depth_buffer = np.full((height, width), np.inf, dtype=np.float32)
    mask = np.zeros((height, width), dtype=bool)
    focal = np.asarray(camera.focal, dtype=np.float64)
    for joints_world, side, appearance in zip(hands_world_mm, sides, appearances, strict=True):
        joints_world = np.asarray(joints_world, dtype=np.float64)
        ends, radii, sleeve = hand_capsules(joints_world)
        ends_cam = world_to_camera(ends.reshape(-1, 3), camera.camrot, camera.campos)
        ends_px = camera_to_pixel(ends_cam, camera.focal, camera.princpt).reshape(-1, 2, 2)
        ends_cam = ends_cam.reshape(-1, 2, 3)
        palm_cam = np.asarray(camera.camrot, dtype=np.float64) @ palm_normal(joints_world, side)
        skin = (appearance.back_rgb, appearance.palm_rgb, palm_cam)
        cloth = (np.asarray(appearance.sleeve_rgb, dtype=np.float64), None, None)  # one tone all round
        for capsule in range(len(ends)):
            _draw_capsule(image, depth_buffer, mask, ends_px[capsule], ends_cam[capsule, :, 2], radii[capsule],
                          focal.mean(), cloth if sleeve[capsule] else skin, light_dir)
    return np.clip(image, 0, 255).astype(np.uint8), mask


def _draw_capsule(image, depth_buffer, mask, ends_px, ends_depth_mm, radii_mm, focal_px, tones, light_dir) -> None:
    """Draw one capsule; `tones` = (back RGB, palm RGB, the palm's normal in the camera frame), or (RGB, None,
    None) for a capsule of one colour."""
    if np.any(ends_depth_mm < 50.0):  # behind or too close to the camera
        return
    radii_px = focal_px * radii_mm / ends_depth_mm
    height, width = depth_buffer.shape
    low = np.floor(np.min(ends_px - radii_px[:, None], axis=0)).astype(int)
    high = np.ceil(np.max(ends_px + radii_px[:, None], axis=0)).astype(int) + 1
    x0, y0 = max(low[0], 0), max(low[1], 0)
    x1, y1 = min(high[0], width), min(high[1], height)
    if x0 >= x1 or y0 >= y1:
        return
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    start, delta = ends_px[0], ends_px[1] - ends_px[0]
    length_sq = float(delta @ delta) + 1e-6
    t = np.clip(((xs - start[0]) * delta[0] + (ys - start[1]) * delta[1]) / length_sq, 0.0, 1.0)
    offset_x = xs - (start[0] + t * delta[0])
    offset_y = ys - (start[1] + t * delta[1])
    radius_px = radii_px[0] + t * (radii_px[1] - radii_px[0])
    dist_sq = offset_x * offset_x + offset_y * offset_y
    inside = dist_sq < radius_px * radius_px
    if not inside.any():
        return
    height_frac = np.sqrt(np.clip(1.0 - dist_sq / (radius_px * radius_px), 0.0, 1.0))
    radius_mm = radii_mm[0] + t * (radii_mm[1] - radii_mm[0])
    depth = ends_depth_mm[0] + t * (ends_depth_mm[1] - ends_depth_mm[0]) - height_frac * radius_mm
    region_depth = depth_buffer[y0:y1, x0:x1]
    visible = inside & (depth < region_depth)
    if not visible.any():
        return
    # Surface normal of the capsule's front (camera frame, facing the camera: negative z).
    diffuse = np.clip((offset_x / radius_px) * light_dir[0] + (offset_y / radius_px) * light_dir[1]
                      - height_frac * light_dir[2], 0.0, 1.0)
    shade = (0.32 + 0.78 * diffuse + 0.25 * diffuse ** 16)[visible]
    back_rgb, palm_rgb, palm_cam = tones
    colour = back_rgb[None, :]
    if palm_rgb is not None:
        facing_palm = ((offset_x / radius_px) * palm_cam[0] + (offset_y / radius_px) * palm_cam[1]
                       - height_frac * palm_cam[2])
        palm_weight = np.clip(0.5 + 3.0 * facing_palm, 0.0, 1.0)[visible, None]
        colour = palm_weight * palm_rgb[None, :] + (1.0 - palm_weight) * colour
    region_depth[visible] = depth[visible]
    image[y0:y1, x0:x1][visible] = shade[:, None] * colour.astype(np.float32)
    mask[y0:y1, x0:x1] |= visible


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cells: int) -> np.ndarray:
    coarse = rng.random((max(2, height // cells), max(2, width // cells))).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.BICUBIC))


def make_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A studio-like textured background: smooth noise in a few octaves, panels and stripes. (H, W, 3) uint8."""
    base = rng.uniform(25, 140, size=3)
    tint = rng.uniform(-50, 50, size=3)
    texture = (0.55 * _smooth_noise(rng, width, height, 96) + 0.3 * _smooth_noise(rng, width, height, 24)
               + 0.15 * _smooth_noise(rng, width, height, 4))
    image = base[None, None, :] + tint[None, None, :] * (texture[:, :, None] - 0.5) * 2.0
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(12, 60)
    stripes = np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi / period)
    image += rng.uniform(4, 18) * stripes[:, :, None]
    for _ in range(rng.integers(2, 6)):  # panels: rectangles of another shade
        x_low, y_low = rng.integers(0, width), rng.integers(0, height)
        x_high, y_high = x_low + rng.integers(20, width // 2), y_low + rng.integers(20, height // 2)
        image[y_low:y_high, x_low:x_high] += rng.uniform(-45, 45, size=3)
    return np.clip(image, 0, 255).astype(np.uint8)
