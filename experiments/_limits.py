"""Upper limits on the sizes in the experiments' Configs, shared so that one word means one range.

They exist to refuse a typo (``--set widths=1000000000``, ``n_train=1e12``) with the allowed
range before anything is allocated, instead of ending in the out-of-memory killer an hour in.
Each is generous: far above every preset, the full presets included, and stated with the
largest preset value it covers. Sizes that are each in range can still multiply into one
tensor, so a Config also bounds its largest tensor by MAX_NUMBERS (approx.checks.product_at_most).
"""
from __future__ import annotations

__all__ = ["MAX_WIDTH", "MAX_DEPTH", "MAX_DIM", "MAX_POINTS", "MAX_GRAM", "MAX_STEPS", "MAX_COUNT", "MAX_ENSEMBLE",
           "MAX_THREADS", "MAX_NUMBERS", "MAX_SECONDS"]

MAX_WIDTH = 65_536  # units in one hidden layer: 4x the widest preset (overparam full, m = 16384)
MAX_DEPTH = 1_024  # hidden layers: 64x the deepest preset (depth_separation, 2k = 16)
MAX_DIM = 4_096  # input dimension d: 128x the largest preset (barron full, d = 32)
MAX_POINTS = 2**22  # points in one data set, grid or batch (4.2M): 64x the largest (65536)
# points behind an n x n kernel or an n x N feature matrix (2**28 numbers; eigvalsh and SVD
# cost O(n^3)): 160x the largest preset (double_descent full, n = 100)
MAX_GRAM = 16_384
MAX_STEPS = 10_000_000  # optimizer steps: 100x the longest preset (overparam full, 100000)
MAX_COUNT = 1_000  # seeds, draws, repeats per configuration: 20x the most (double_descent, 50)
MAX_ENSEMBLE = 65_536  # networks in one ensemble: 64x the largest preset (ensembles full, 1024)
MAX_THREADS = 1_024  # CPU threads: more cores than one machine has
# Numbers in the largest tensor a run makes (an activation, a weight matrix, a kernel): 2**30,
# 4 GiB in float32 and 8 GiB in float64, 4x the largest preset tensor (benchmark's heatmap:
# 65536 points x 4096 units). A training step holds a few such tensors, which is what a large
# GPU holds; past this a study needs chunking, not a bigger number.
MAX_NUMBERS = 2**30
MAX_SECONDS = 3_600.0  # a timing target or budget in seconds: 1 hour per quantity is no benchmark
