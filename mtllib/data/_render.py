"""Drawing of one procedural leaf photo: shape by species, lesions by health, nuisances at random.

Species differ only in the leaf outline, its proportions, apex, base and venation (a global
shape cue). Disease shows only as local lesions (a local texture cue). Leaf colour, pose,
scale, lighting, background, harmless marks, blur and noise are drawn independently of both
labels. All lengths below are in units of the canvas height unless a name says otherwise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["GENERATOR_VERSION", "draw_leaf"]

# Version of the drawing code. Changing the drawing changes the images for a seed, so bump it
# to invalidate cached procedural data.
GENERATOR_VERSION = 1

Array = np.ndarray


@functools.lru_cache(maxsize=8)
def _canvas_grid(width: int, height: int) -> tuple[Array, Array]:
    """Pixel-centre coordinates in canvas-height units, origin at the canvas centre."""
    xs = (np.arange(width, dtype=np.float32) + 0.5 - width / 2) / height
    ys = (np.arange(height, dtype=np.float32) + 0.5 - height / 2) / height
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid_x.setflags(write=False)
    grid_y.setflags(write=False)
    return grid_x, grid_y


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cells: int) -> Array:
    """Smooth random field in [-1, 1] with about ``cells`` blobs across the canvas height."""
    grid_height = max(2, cells)
    grid_width = max(2, round(cells * width / height))
    coarse = rng.uniform(0, 255, size=(grid_height, grid_width)).astype(np.uint8)
    fine = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(fine, dtype=np.float32) / 127.5 - 1.0


def _hsv_to_rgb(hue: float, saturation: float, value: float) -> Array:
    """Convert one HSV colour (hue in degrees) to an RGB float array in [0, 1]."""
    hue = (hue % 360.0) / 60.0
    chroma = value * saturation
    second = chroma * (1 - abs(hue % 2 - 1))
    sector = int(hue) % 6
    rgb = [
        (chroma, second, 0),
        (second, chroma, 0),
        (0, chroma, second),
        (0, second, chroma),
        (second, 0, chroma),
        (chroma, 0, second),
    ][sector]
    return np.array(rgb, dtype=np.float32) + np.float32(value - chroma)


# Leaf outlines. Each shape function takes leaf coordinates u (along the midrib, 0 at the base,
# 1 at the apex) and v (across it), both in units of the leaf length, and the pixel size in
# those units. It returns the signed distance to the margin (positive inside) and a vein
# intensity map in [0, 1].

ShapeResult = tuple[Array, Array]


def _beta_profile(u: Array, p: float, q: float) -> Array:
    """Half-width profile u^p (1-u)^q scaled to a maximum of 1; widest at u = p / (p + q)."""
    peak = p / (p + q)
    norm = peak**p * (1 - peak) ** q
    clipped = np.clip(u, 0.0, 1.0)
    return clipped**p * (1 - clipped) ** q / norm


def _superellipse_profile(u: Array, exponent: float) -> Array:
    """Half-width profile (1 - |2u - 1|^m)^(1/m): oblong with rounded ends for large m."""
    clipped = np.clip(u, 0.0, 1.0)
    return np.maximum(0.0, 1 - np.abs(2 * clipped - 1) ** exponent) ** (1 / exponent)


def _profile_distance(u: Array, v: Array, half_width: Array) -> Array:
    outside_along = np.maximum(0.0, np.maximum(-u, u - 1))
    return half_width - np.abs(v) - outside_along


def _petiole(u: Array, v: Array, pixel: float, length: float) -> Array:
    """Signed distance of the leaf stalk, a thin strip from u = -length to the base."""
    thickness = max(0.7 * pixel, 0.008)
    return np.minimum(np.minimum(thickness - np.abs(v), u + length), 0.02 - u)


def _pinnate_veins(
    u: Array, v: Array, half_width: Array, pixel: float, spacing: float, slope: float, strength: float
) -> Array:
    """Midrib plus parallel secondary veins that leave it towards the apex at a fixed slope."""
    across = np.abs(v)
    midrib = np.exp(-((across / (0.9 * pixel)) ** 2)) * ((u > 0) & (u < 0.97))
    phase = (u - across * slope) / spacing
    distance = np.abs(phase - np.round(phase)) * spacing / math.sqrt(1 + slope * slope)
    inner = (across < 0.9 * half_width) & (u > 0.04) & (u < 0.96)
    secondary = np.exp(-((distance / (0.6 * pixel)) ** 2)) * inner
    return np.maximum(midrib, strength * secondary)


def _polar_veins(radius: Array, angle: Array, directions: Array, reach: Array, pixel: float) -> Array:
    """Veins that radiate from the polar centre along ``directions`` (palmate venation)."""
    best = np.zeros_like(radius)
    for direction in directions:
        offset = np.angle(np.exp(1j * (angle - direction)))
        distance = radius * np.abs(np.sin(offset))
        ray = np.exp(-((distance / (0.8 * pixel)) ** 2)) * (np.abs(offset) < math.pi / 2) * (radius < 0.9 * reach)
        best = np.maximum(best, ray)
    return best


def _lanceolate(u: Array, v: Array, pixel: float, rng: np.random.Generator) -> ShapeResult:
    """Mango: long and narrow, widest at a third, tapering to an acute apex."""
    width = rng.uniform(0.10, 0.14)
    half = width * _beta_profile(u, rng.uniform(0.55, 0.7), rng.uniform(1.2, 1.5))
    distance = np.maximum(_profile_distance(u, v, half), _petiole(u, v, pixel, 0.08))
    veins = _pinnate_veins(u, v, half, pixel, rng.uniform(0.05, 0.07), rng.uniform(0.9, 1.3), 0.6)
    return distance, veins


def _oblong(u: Array, v: Array, pixel: float, rng: np.random.Generator) -> ShapeResult:
    """Arjun: parallel sides with rounded base and apex."""
    width = rng.uniform(0.17, 0.22)
    half = width * _superellipse_profile(u, rng.uniform(3.0, 4.5))
    distance = np.maximum(_profile_distance(u, v, half), _petiole(u, v, pixel, 0.1))
    veins = _pinnate_veins(u, v, half, pixel, rng.uniform(0.08, 0.11), rng.uniform(0.5, 0.8), 0.6)
    return distance, veins


def _oblanceolate(u: Array, v: Array, pixel: float, rng: np.random.Generator) -> ShapeResult:
    """Alstonia: widest near the apex, a long wedge-shaped base, dense veins at right angles."""
    width = rng.uniform(0.12, 0.16)
    half = width * _beta_profile(u, rng.uniform(1.5, 2.0), rng.uniform(0.45, 0.6))
    distance = np.maximum(_profile_distance(u, v, half), _petiole(u, v, pixel, 0.05))
    veins = _pinnate_veins(u, v, half, pixel, rng.uniform(0.025, 0.035), rng.uniform(0.0, 0.2), 0.7)
    return distance, veins


def _elliptic(u: Array, v: Array, pixel: float, rng: np.random.Generator) -> ShapeResult:
    """Guava: broad ellipse with a blunt apex and many prominent parallel veins."""
    width = rng.uniform(0.23, 0.28)
    half = width * _superellipse_profile(u, rng.uniform(1.9, 2.3))
    distance = np.maximum(_profile_distance(u, v, half), _petiole(u, v, pixel, 0.06))
    veins = _pinnate_veins(u, v, half, pixel, rng.uniform(0.04, 0.055), rng.uniform(0.4, 0.6), 1.0)
    return distance, veins


def _trifoliate(u: Array, v: Array, pixel: float, rng: np.random.Generator) -> ShapeResult:
    """Bael: three leaflets, a long terminal one and two shorter lateral ones."""
    junction = rng.uniform(0.3, 0.38)
    spread = math.radians(rng.uniform(55, 80))
    distance = _petiole(u - junction, v, pixel, junction)
    veins = np.zeros_like(u)
    leaflets = ((0.0, 1 - junction), (spread, rng.uniform(0.34, 0.42)), (-spread, rng.uniform(0.34, 0.42)))
    for angle, length in leaflets:
        cos_a, sin_a = math.cos(angle), math.sin(angle)
        along = ((u - junction) * cos_a + v * sin_a) / length
        across = (-(u - junction) * sin_a + v * cos_a) / length
        half = rng.uniform(0.2, 0.26) * _beta_profile(along, 0.8, 1.1)
        distance = np.maximum(distance, _profile_distance(along, across, half) * length)
        veins = np.maximum(veins, _pinnate_veins(along, across, half, pixel / length, 0.12, 0.8, 0.5))
    return distance, veins


def _acuminate(u: Array, v: Array, pixel: float, rng: np.random.Generator) -> ShapeResult:
    """Jamun: elliptic blade that ends in a long narrow drip tip."""
    width = rng.uniform(0.2, 0.25)
    blade_end = rng.uniform(0.78, 0.84)
    blade = width * _superellipse_profile(u / blade_end, 2.0)
    tip = width * 0.22 * np.clip((1 - u) / (1 - blade_end + 0.1), 0.0, 1.0) ** 1.2 * (u > 0.5)
    half = np.maximum(blade, tip)
    distance = np.maximum(_profile_distance(u, v, half), _petiole(u, v, pixel, 0.07))
    veins = _pinnate_veins(u, v, half, pixel, rng.uniform(0.05, 0.07), rng.uniform(0.9, 1.2), 0.4)
    return distance, veins


def _polar_leaf(
    u: Array, v: Array, pixel: float, centre: float, radius_fn: Callable[[Array], Array], directions: Array
) -> ShapeResult:
    """Shape given by its radius around the point (centre, 0); angle 0 points to the apex."""
    du = u - centre
    radius = np.sqrt(du * du + v * v)
    angle = np.arctan2(v, du)
    reach = radius_fn(angle)
    # The stalk runs from behind the base notch to the centre, so it meets the blade.
    distance = np.maximum((reach - radius) * 0.8, _petiole(u - centre, v, pixel, centre + 0.1))
    veins = _polar_veins(radius, angle, directions, reach, pixel)
    return distance, veins


def _cordate(u: Array, v: Array, pixel: float, rng: np.random.Generator) -> ShapeResult:
    """Jatropha: heart-shaped, a deep notch at the base and three shallow lobes."""
    size = rng.uniform(0.5, 0.56)
    notch = rng.uniform(0.6, 0.85)
    lobes = rng.uniform(0.06, 0.12)

    def radius_fn(angle: Array) -> Array:
        base_notch = 1 - notch * np.exp(-(((np.abs(angle) - math.pi) / 0.35) ** 2))
        apex = 1 + 0.25 * np.exp(-((angle / 0.3) ** 2))
        lobed = 1 + lobes * np.cos(3 * angle)
        return size * base_notch * apex * lobed * (0.92 + 0.08 * np.cos(angle))

    directions = np.array([0.0, 1.1, -1.1, 2.1, -2.1])
    return _polar_leaf(u, v, pixel, rng.uniform(0.4, 0.45), radius_fn, directions)


def _ovate(u: Array, v: Array, pixel: float, rng: np.random.Generator) -> ShapeResult:
    """Pongamia: broad egg shape, widest below the middle, with an acute apex."""
    width = rng.uniform(0.25, 0.3)
    half = width * _beta_profile(u, rng.uniform(0.4, 0.55), rng.uniform(0.95, 1.15))
    distance = np.maximum(_profile_distance(u, v, half), _petiole(u, v, pixel, 0.1))
    veins = _pinnate_veins(u, v, half, pixel, rng.uniform(0.09, 0.12), rng.uniform(0.8, 1.1), 0.6)
    return distance, veins


def _serrated(u: Array, v: Array, pixel: float, rng: np.random.Generator) -> ShapeResult:
    """Basil: ovate with a toothed margin."""
    width = rng.uniform(0.24, 0.3)
    teeth = rng.uniform(7, 11)
    depth = rng.uniform(0.1, 0.16)
    saw = (u * teeth + rng.uniform(0, 1)) % 1.0
    half = width * _beta_profile(u, 0.7, 1.0) * (1 - depth * saw)
    distance = np.maximum(_profile_distance(u, v, half), _petiole(u, v, pixel, 0.12))
    veins = _pinnate_veins(u, v, half, pixel, rng.uniform(0.12, 0.16), rng.uniform(0.9, 1.2), 0.5)
    return distance, veins


def _linear(u: Array, v: Array, pixel: float, rng: np.random.Generator) -> ShapeResult:
    """Pomegranate: very narrow with nearly parallel sides and a blunt apex."""
    width = rng.uniform(0.065, 0.09)
    half = width * _superellipse_profile(u, rng.uniform(2.2, 2.8)) * (1 - 0.25 * u)
    distance = np.maximum(_profile_distance(u, v, half), _petiole(u, v, pixel, 0.04))
    veins = _pinnate_veins(u, v, half, pixel, 0.08, 1.0, 0.3)
    return distance, veins


def _winged(u: Array, v: Array, pixel: float, rng: np.random.Generator) -> ShapeResult:
    """Lemon: elliptic blade with a wavy margin on a broadly winged stalk."""
    start = rng.uniform(0.22, 0.28)
    width = rng.uniform(0.19, 0.24)
    along = (u - start) / (1 - start)
    waves = 1 + 0.05 * np.sin(2 * math.pi * rng.uniform(8, 12) * along)
    half = width * _superellipse_profile(along, 2.0) * waves * (1 - start)
    wing_half = rng.uniform(0.05, 0.07) * _beta_profile(u / (start + 0.02), 1.5, 0.7)
    distance = np.maximum(_profile_distance(u, v, half), _profile_distance(u / (start + 0.02), v, wing_half))
    distance = np.maximum(distance, _petiole(u, v, pixel, 0.06))
    veins = _pinnate_veins(u, v, np.maximum(half, wing_half), pixel, rng.uniform(0.07, 0.09), 0.9, 0.5)
    return distance, veins


def _palmate(u: Array, v: Array, pixel: float, rng: np.random.Generator) -> ShapeResult:
    """Chinar (plane tree): five deep pointed lobes and palmate veins."""
    size = rng.uniform(0.5, 0.56)
    inner = rng.uniform(0.38, 0.52)
    side = math.radians(rng.uniform(62, 76))
    back = math.radians(rng.uniform(125, 145))
    directions = np.array([0.0, side, -side, back, -back])
    sharpness = rng.uniform(0.28, 0.36)

    def radius_fn(angle: Array) -> Array:
        lobe = np.zeros_like(angle)
        for direction, scale in zip(directions, (1.0, 0.92, 0.92, 0.7, 0.7)):
            offset = np.angle(np.exp(1j * (angle - direction)))
            lobe = np.maximum(lobe, scale * np.exp(-np.abs(offset / sharpness) ** 1.3))
        return size * (inner + (1 - inner) * lobe)

    return _polar_leaf(u, v, pixel, rng.uniform(0.42, 0.48), radius_fn, directions)


# Outline family of each species, indexed by the species' "Pn" number.
SPECIES_SHAPES: tuple[Callable[[Array, Array, float, np.random.Generator], ShapeResult], ...] = (
    _lanceolate,  # P0 Mango
    _oblong,  # P1 Arjun
    _oblanceolate,  # P2 Alstonia Scholaris
    _elliptic,  # P3 Gauva
    _trifoliate,  # P4 Bael
    _acuminate,  # P5 Jamun
    _cordate,  # P6 Jatropha
    _ovate,  # P7 Pongamia Pinnata
    _serrated,  # P8 Basil
    _linear,  # P9 Pomegranate
    _winged,  # P10 Lemon
    _palmate,  # P11 Chinar
)


@dataclass
class _Layer:
    """Canvas being drawn: RGB colours in [0, 1], leaf coverage and pixel geometry."""

    rgb: Array
    leaf: Array
    width: int
    height: int


def _paint_disc(
    layer: _Layer,
    centre: tuple[float, float],
    radius: float,
    colour: Array,
    opacity: float,
    rng: np.random.Generator,
    *,
    irregular: float = 0.0,
    softness: float = 1.0,
    on_leaf: bool = True,
    ring: float = 0.0,
) -> None:
    """Blend a soft, optionally irregular disc (or a ring of width ``ring``) into the canvas.

    ``centre`` and ``radius`` are in pixels. With ``on_leaf`` the disc is masked by the leaf
    coverage, as lesions are.
    """
    reach = radius * (1 + irregular) + ring + 2 * softness + 1
    left = max(0, int(centre[0] - reach))
    right = min(layer.width, int(centre[0] + reach) + 2)
    top = max(0, int(centre[1] - reach))
    bottom = min(layer.height, int(centre[1] + reach) + 2)
    if left >= right or top >= bottom:
        return

    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float32)
    dx = xs + 0.5 - centre[0]
    dy = ys + 0.5 - centre[1]
    distance = np.sqrt(dx * dx + dy * dy)
    edge = np.full_like(distance, radius)
    if irregular > 0:
        angle = np.arctan2(dy, dx)
        for harmonic in (2, 3, 5):
            edge *= 1 + irregular / harmonic * np.sin(harmonic * angle + rng.uniform(0, 2 * math.pi))
    alpha = np.clip((edge - distance) / softness + 0.5, 0.0, 1.0)
    if ring > 0:
        outer = np.clip((edge + ring - distance) / (softness + ring / 2) + 0.5, 0.0, 1.0)
        alpha = outer - alpha
    alpha *= opacity
    if on_leaf:
        alpha *= layer.leaf[top:bottom, left:right]
    window = layer.rgb[top:bottom, left:right]
    window += alpha[:, :, None] * (colour - window)


def _random_leaf_point(layer: _Layer, rng: np.random.Generator) -> tuple[float, float] | None:
    """Pixel coordinates of a random point well inside the leaf, or None for an empty leaf.

    The point is picked by its rank in row-major order as a fraction of the leaf area, so a
    drawing at another width puts it at about the same place.
    """
    rows, columns = np.nonzero(layer.leaf > 0.95)
    if rows.size == 0:
        return None
    pick = min(int(rng.random() * rows.size), rows.size - 1)
    return float(columns[pick]) + rng.uniform(0, 1), float(rows[pick]) + rng.uniform(0, 1)


def _lesion_colour(rng: np.random.Generator) -> Array:
    hue = rng.uniform(0, 45)
    return _hsv_to_rgb(hue, rng.uniform(0.35, 0.9), rng.uniform(0.08, 0.55))


def _draw_lesions(layer: _Layer, rng: np.random.Generator, pixels_per_unit: float) -> None:
    """Draw disease: spots, necrotic patches, yellow halos and rust-like speckles on the leaf."""
    count = min(int(rng.geometric(0.25)), 12)
    for _ in range(count):
        point = _random_leaf_point(layer, rng)
        if point is None:
            return
        kind = rng.choice(4, p=(0.4, 0.25, 0.2, 0.15))
        colour = _lesion_colour(rng)
        if kind == 0:  # spot, sometimes with a yellow halo
            radius = rng.uniform(0.012, 0.035) * pixels_per_unit
            if rng.random() < 0.5:
                halo = _hsv_to_rgb(rng.uniform(45, 65), rng.uniform(0.5, 0.9), rng.uniform(0.6, 0.95))
                halo_radius = radius * rng.uniform(1.6, 2.4)
                _paint_disc(layer, point, halo_radius, halo, rng.uniform(0.5, 0.9), rng, irregular=0.15)
            _paint_disc(layer, point, radius, colour, rng.uniform(0.7, 1.0), rng, irregular=0.2)
        elif kind == 1:  # necrotic patch with a darker rim
            radius = rng.uniform(0.03, 0.07) * pixels_per_unit
            tan = _hsv_to_rgb(rng.uniform(20, 45), rng.uniform(0.3, 0.7), rng.uniform(0.35, 0.75))
            _paint_disc(layer, point, radius, tan, rng.uniform(0.7, 1.0), rng, irregular=0.5, softness=2.0)
            _paint_disc(layer, point, radius, colour, 0.8, rng, irregular=0.5, ring=max(1.0, radius * 0.15))
        elif kind == 2:  # yellow chlorotic halo around a small dark centre
            radius = rng.uniform(0.02, 0.05) * pixels_per_unit
            halo = _hsv_to_rgb(rng.uniform(45, 65), rng.uniform(0.5, 0.95), rng.uniform(0.65, 0.95))
            _paint_disc(layer, point, radius, halo, rng.uniform(0.5, 0.85), rng, irregular=0.3, softness=3.0)
            _paint_disc(layer, point, radius * 0.35, colour, 0.9, rng, irregular=0.2)
        else:  # cluster of small rust-coloured specks
            spread = rng.uniform(0.02, 0.05) * pixels_per_unit
            for _ in range(int(rng.integers(6, 16))):
                offset = rng.normal(0, spread, size=2)
                speck = (point[0] + float(offset[0]), point[1] + float(offset[1]))
                _paint_disc(layer, speck, rng.uniform(0.003, 0.007) * pixels_per_unit, colour, 0.9, rng)


def _draw_harmless_marks(layer: _Layer, rng: np.random.Generator, pixels_per_unit: float) -> None:
    """Draw marks that healthy and diseased leaves share: glare, dust specks, debris."""
    if rng.random() < 0.5:  # glare on the leaf
        point = _random_leaf_point(layer, rng)
        if point is not None:
            white = np.array([1.0, 1.0, 0.95], dtype=np.float32)
            radius = rng.uniform(0.03, 0.09) * pixels_per_unit
            _paint_disc(layer, point, radius, white, rng.uniform(0.15, 0.45), rng, irregular=0.3, softness=radius / 2)
    if rng.random() < 0.6:  # dust and debris anywhere in the picture
        for _ in range(int(rng.integers(1, 10))):
            point = (rng.uniform(0, layer.width), rng.uniform(0, layer.height))
            grey = rng.uniform(0.1, 0.9)
            colour = _hsv_to_rgb(rng.uniform(0, 60), rng.uniform(0, 0.4), grey)
            radius = rng.uniform(0.003, 0.012) * pixels_per_unit
            _paint_disc(layer, point, radius, colour, rng.uniform(0.4, 0.9), rng, on_leaf=False)


def _leaf_colour(rng: np.random.Generator) -> Array:
    roll = rng.random()
    if roll < 0.75:
        hue = rng.uniform(75, 140)
    elif roll < 0.92:
        hue = rng.uniform(50, 75)
    else:
        hue = rng.uniform(20, 50)
    return _hsv_to_rgb(hue, rng.uniform(0.35, 0.9), rng.uniform(0.25, 0.8))


def _background(rng: np.random.Generator, width: int, height: int) -> Array:
    colour = _hsv_to_rgb(rng.uniform(0, 360), rng.uniform(0, 0.5), rng.uniform(0.03, 0.9))
    texture = _smooth_noise(rng, width, height, int(rng.integers(2, 8)))
    amount = rng.uniform(0, 0.3)
    return np.clip(colour[None, None, :] * (1 + amount * texture[:, :, None]), 0.0, 1.0)


def draw_leaf(seed_sequence: np.random.SeedSequence, species: int, health: int, width: int) -> Image.Image:
    """Draw one leaf photo of the given species and health on a ``width`` x ``2 * width / 3`` canvas.

    Every random choice comes from ``seed_sequence``, so equal sequences give equal images.
    """
    height = width * 2 // 3
    rng = np.random.default_rng(seed_sequence)
    grid_x, grid_y = _canvas_grid(width, height)

    # Pose and size, independent of the labels.
    length = rng.uniform(0.68, 0.95)
    centre_x, centre_y = rng.uniform(-0.2, 0.2), rng.uniform(-0.06, 0.06)
    rotation = rng.uniform(0, 2 * math.pi)
    cos_r, sin_r = math.cos(rotation), math.sin(rotation)
    dx = grid_x - centre_x
    dy = grid_y - centre_y
    u = (dx * cos_r + dy * sin_r) / length + 0.5
    v = (-dx * sin_r + dy * cos_r) / length
    if rng.random() < 0.5:
        v = -v
    bend = rng.uniform(-0.25, 0.25)
    v = v - bend * (u - 0.5) ** 2
    pixel = 1.0 / (length * height)

    distance, veins = SPECIES_SHAPES[species](u, v, pixel, rng)
    leaf = np.clip(distance * length * height + 0.5, 0.0, 1.0).astype(np.float32)

    # Blade colour with mottling, veins lighter or darker than the blade.
    colour = _leaf_colour(rng)
    mottling = _smooth_noise(rng, width, height, int(rng.integers(3, 10)))
    shade = 1 + rng.uniform(0.03, 0.15) * mottling
    vein_contrast = rng.uniform(-0.15, 0.3)
    blade = colour[None, None, :] * (shade * (1 + vein_contrast * veins))[:, :, None]

    background = _background(rng, width, height)
    shadow_offset = rng.normal(0, 0.01, size=2) * height
    shadow = np.asarray(
        Image.fromarray((leaf * 255).astype(np.uint8))
        .transform((width, height), Image.Transform.AFFINE, (1, 0, -shadow_offset[0], 0, 1, -shadow_offset[1]))
        .filter(ImageFilter.GaussianBlur(rng.uniform(1, 4))),
        dtype=np.float32,
    ) / 255.0
    background = background * (1 - rng.uniform(0, 0.5) * shadow)[:, :, None]

    rgb = (background * (1 - leaf[:, :, None]) + blade * leaf[:, :, None]).astype(np.float32)
    layer = _Layer(rgb=rgb, leaf=leaf, width=width, height=height)
    _draw_harmless_marks(layer, rng, height)
    if health == 1:
        _draw_lesions(layer, rng, height)

    # Lighting: a brightness gradient and a global exposure, then blur and sensor noise.
    direction = rng.uniform(0, 2 * math.pi)
    gradient = rng.uniform(0, 0.6) * (grid_x * math.cos(direction) + grid_y * math.sin(direction))
    exposure = rng.uniform(0.7, 1.25)
    lit = layer.rgb * (exposure * (1 + gradient))[:, :, None]
    image = Image.fromarray(np.clip(lit * 255 + 0.5, 0, 255).astype(np.uint8))
    blur = rng.uniform(0, 2.0) * height / 128
    if blur > 0.3:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    noise_level = rng.uniform(0, 16)
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, noise_level, size=(height, width, 3)).astype(np.float32)
    return Image.fromarray(np.clip(noisy + 0.5, 0, 255).astype(np.uint8))
