"""The configuration of experiments/yarotsky: its Config, with every field checked, and its presets.
The computation, the figure and the text import it; it imports none of them."""
from __future__ import annotations

from dataclasses import dataclass

from approx import checks

from .._limits import MAX_POINTS

__all__ = ["Config", "PRESETS", "MAX_EXPONENT", "MAX_XY_EXPONENT", "MAX_STUDY_DEPTH"]

# eps = 2^-p: at p = 30 the one-hidden-layer network for x^2 has N = 2^14 units
MAX_EXPONENT = 30
# xy needs the square to eps/3: at p = 28 its one hidden layer has 3 N = 3 ceil(2^13 sqrt 3) = 42,567
# units (approx.constructions.yarotsky.MAX_PIECES and _limits.MAX_WIDTH allow it)
MAX_XY_EXPONENT = 28
MAX_STUDY_DEPTH = 32  # fixed depths L (hidden layers); the deep construction's own depth is log2 N


@dataclass(frozen=True)
class Config:
    eps_exponents: tuple[int, ...] = tuple(range(4, 25))  # x^2 to sup error eps = 2^-p on [0, 1], these p
    depths: tuple[int, ...] = (1, 2, 3, 4, 6)  # fixed numbers of hidden layers (plus Yarotsky's log2 N)
    xy_eps_exponents: tuple[int, ...] = (4, 8, 12, 16, 20, 24)  # xy to 2^-p on [0, 1]^2, these p
    xy_grid: int = 301  # points per axis of the grid that checks xy (offset so that none is a knot)

    def __post_init__(self):
        checks.integers("eps_exponents", self.eps_exponents, low=1, high=MAX_EXPONENT)
        checks.integers("depths", self.depths, low=1, high=MAX_STUDY_DEPTH)
        checks.integers("xy_eps_exponents", self.xy_eps_exponents, low=1, high=MAX_XY_EXPONENT)
        checks.integer("xy_grid", self.xy_grid, low=2)
        checks.product_at_most("the xy grid", {"xy_grid": self.xy_grid, "xy_grid (the other axis)": self.xy_grid},
                               MAX_POINTS)


PRESETS = {
    "smoke": {"eps_exponents": (4, 6, 8, 10), "depths": (1, 2, 3), "xy_eps_exponents": (4, 8), "xy_grid": 51},
    "default": {},
    "full": {"eps_exponents": tuple(range(2, 31)), "depths": (1, 2, 3, 4, 5, 6, 8, 10),
             "xy_eps_exponents": tuple(range(4, 29, 2)), "xy_grid": 1001},
}
