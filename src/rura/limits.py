"""Bounds on image sides that every entry point shares (config fields and CLI options).

Light on purpose: the CLI imports it to check options before any heavy import.
"""

from __future__ import annotations

#: The smallest side a network input may have: below it a fundus shows nothing.
MIN_INPUT_SIDE = 16
#: The largest backbone input side: past it a single image outgrows any GPU's memory.
MAX_INPUT_SIDE = 4096
#: The largest field-of-view side for segmentation (12 MP photos are about 4000 px wide).
MAX_SEGMENTATION_SIDE = 8192
#: The largest seed: numpy's and scikit-learn's random states take 32-bit seeds.
MAX_SEED = 2**32 - 1
#: The most bootstrap resamples (10,000 already gives a stable 95% interval).
MAX_BOOTSTRAP = 100_000
