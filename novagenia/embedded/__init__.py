"""Models that ship with NovaGenIA, so it runs end to end with no network.

- `novagenia/tiny-shapes`: a tiny model trained here on drawn shapes (by the repository's
  `training/train_tiny_shapes.py`, not shipped), committed in diffusers format in
  `tiny-shapes/`.
- `novagenia/tiny-random`: the same architecture family with random weights, built on
  demand (`random_tiny.py`); its pictures are noise, but every part of the system runs.
"""

from pathlib import Path

EMBEDDED_DIR = Path(__file__).resolve().parent
EMBEDDED_NAMESPACE = "novagenia"
TINY_RANDOM = "novagenia/tiny-random"
TINY_SHAPES = "novagenia/tiny-shapes"
