"""Networks built by formula. Each function returns an ``approx.Network`` and its docstring
states the formula, the error bound and the paper.

    universal  sigmoid staircases, ReLU ramps, hats, trapezoids, interpolants, bumps (Jones 1990; Cybenko 1989)
    depth      Telgarsky's sawtooth and Yarotsky's square (depth separation)
    yarotsky   x^2 at every depth from the interpolant to Yarotsky's composition, xy by polarisation
    memorize   Zhang et al.'s (2017) network that fits any n labels with 2n + d weights
"""
from .memorize import memorizer  # noqa: F401
from .depth import alternating_points, sawtooth, sawtooth_shallow, square_interpolant_shallow, yarotsky_square  # noqa: F401
from .yarotsky import polarised_product, square_blocks  # noqa: F401
from .universal import interpolant_error_bound, ramp_staircase, ramp_staircase_error_bound, relu_bump_nd, relu_hat, relu_interpolant, relu_ramp, relu_trapezoid, sigmoid_bump, sigmoid_staircase, staircase_error_bound  # noqa: F401
