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
