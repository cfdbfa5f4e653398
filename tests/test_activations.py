"""approx.activations: values, derivatives against autograd, stability at +-1e4, conventions."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import Tensor

from approx import activations

DTYPES = [torch.float32, torch.float64]
# derivative(x, y) and autograd evaluate the same expression or a rearrangement of it, each from
# its own y = phi(x), which vectorised and scalar library code may round differently by a few
# ulps. Every derivative here lies in [0, 1] and is a function of y with slope at most 2
# (tanh' = 1 - y^2), so the two agree to a few ulps relative where the derivative is large and
# to about 8 eps absolute where it cancels (tanh' = 1e-4 in float32 carries ~1e-3 relative error).
RTOL = {torch.float32: 1e-6, torch.float64: 1e-14}
ATOL = {dtype: 8 * torch.finfo(dtype).eps for dtype in (torch.float32, torch.float64)}
# where each activation has a kink: its derivative there is a convention (test_conventions_at_kinks)
KINKS = {"relu": [0.0], "ramp": [0.0, 1.0]}
SPECIAL = [-1e4, -100.0, -20.5, -1.0, -1e-9, 0.0, 1e-9, 0.5, 1.0 - 1e-9, 1.0, 1.0 + 1e-9,
           19.9, 20.0, 20.0001, 20.5, 100.0, 1e4]


def autograd_derivative(name: str, x: torch.Tensor) -> torch.Tensor:
    leaf = x.clone().requires_grad_(True)
    activations.get(name).value(leaf).sum().backward()
    return leaf.grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", activations.names())
def test_derivative_matches_autograd(device, name, dtype):
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(500, generator=gen, dtype=torch.float64) * 5,
                   torch.tensor(SPECIAL, dtype=torch.float64)]).to(device, dtype)
    phi = activations.get(name)
    y = phi.value(x)
    d = phi.derivative(x, y)
    ref = autograd_derivative(name, x)
    assert d.dtype == dtype and d.shape == x.shape
    # At a kink the derivative is a convention, and torch's differs between devices and versions
    # (clamp's gradient at x = 0 and 1 is 0 on the CPU with torch 2.11 and 2.14, 1 with 2.13
    # and on CUDA). So compare with autograd off the kinks only; test_conventions_at_kinks
    # checks our own convention, the same on every device and version, on its own.
    off_kinks = ~torch.isin(x, torch.tensor(KINKS.get(name, []), dtype=dtype, device=x.device))
    assert int((~off_kinks).sum()) >= len(KINKS.get(name, []))  # every kink is in SPECIAL
    d, ref = d[off_kinks], ref[off_kinks]
    assert torch.allclose(d, ref, rtol=RTOL[dtype], atol=ATOL[dtype])


def test_derivative_comparison_has_teeth():
    """Negative control: off the kinks, a derivative 1% off fails the comparison."""
    x = torch.tensor([-2.0, -0.5, 0.25, 0.75, 3.0], dtype=torch.float64)
    for name in ("relu", "ramp", "tanh", "sigmoid", "softplus"):
        phi = activations.get(name)
        d = phi.derivative(x, phi.value(x))
        ref = autograd_derivative(name, x)
        assert torch.allclose(d, ref, rtol=RTOL[torch.float64], atol=ATOL[torch.float64])
        wrong = d * 1.01 + (d == 0) * 0.01  # 1% off (and off by 0.01 where the derivative is 0)
        assert not torch.allclose(wrong, ref, rtol=RTOL[torch.float64], atol=ATOL[torch.float64])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", activations.names())
def test_stable_at_1e4_without_warnings(name, dtype):
    x = torch.tensor([-1e4, 1e4], dtype=dtype)
    phi = activations.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = phi.value(x)
        d = phi.derivative(x, y)
    assert torch.isfinite(y).all() and torch.isfinite(d).all()
    exact_value = {"identity": [-1e4, 1e4], "relu": [0, 1e4], "sigmoid": [0, 1], "tanh": [-1, 1],
                   "softplus": [0, 1e4], "ramp": [0, 1]}[name]
    exact_derivative = {"identity": [1, 1], "relu": [0, 1], "sigmoid": [0, 0], "tanh": [0, 0],
                        "softplus": [0, 1], "ramp": [0, 0]}[name]
    assert torch.equal(y, torch.tensor(exact_value, dtype=dtype))  # exact to rounding
    assert torch.equal(d, torch.tensor(exact_derivative, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_values_against_definitions(dtype):
    x = torch.linspace(-30, 30, 2001, dtype=torch.float64)
    ref = {"identity": x, "relu": x.clamp_min(0), "sigmoid": 1 / (1 + torch.exp(-x)),
           # softplus is x itself above torch's threshold 20 (it differs by e^-x <= 2e-9 there)
           "tanh": torch.tanh(x), "softplus": torch.where(x > 20, x, torch.log1p(torch.exp(x))),
           "ramp": torch.relu(x) - torch.relu(x - 1)}  # the notes' "put two together"
    for name, expected in ref.items():
        got = activations.get(name).value(x.to(dtype)).double()
        # float32 rounds the input and the output: relative error a few eps32
        tol = 1e-14 if dtype == torch.float64 else 1e-6
        assert torch.allclose(got, expected, rtol=tol, atol=tol * 1e-2), name


def test_sigmoidal_flag_matches_the_limits():
    """Cybenko's hypothesis: phi(-inf) = 0 and phi(+inf) = 1."""
    x = torch.tensor([-1e6, 1e6], dtype=torch.float64)
    for name in activations.names():
        phi = activations.get(name)
        limits_ok = torch.equal(phi.value(x), torch.tensor([0.0, 1.0], dtype=torch.float64))
        assert phi.sigmoidal == limits_ok, name
    assert {n for n in activations.names() if activations.get(n).sigmoidal} == {"sigmoid", "ramp"}


def test_conventions_at_kinks(device):
    x = torch.tensor([0.0, 1.0], dtype=torch.float64, device=device)
    relu, ramp = activations.get("relu"), activations.get("ramp")
    assert relu.derivative(x, relu.value(x)).tolist() == [0.0, 1.0]  # relu'(0) = 0
    assert ramp.derivative(x, ramp.value(x)).tolist() == [0.0, 0.0]  # ramp' = 1 on (0, 1) only


def test_table_and_lookup():
    assert activations.names() == ["identity", "relu", "sigmoid", "tanh", "softplus", "ramp"]
    assert activations.get("tanh")(torch.zeros(1)).item() == 0.0
    with pytest.raises(ValueError, match="unknown activation 'gelu'; allowed: identity, relu"):
        activations.get("gelu")
    with pytest.raises(ValueError, match="unknown activation"):
        activations.get(None)


# rational_tanh: Eigen's and XLA's float32 tanh, used inside compiled float32 graphs
RATIONAL_ULPS = 4  # its documented accuracy: |r(x) - tanh(x)| <= 4 eps32 |tanh(x)|


def _rational_error_in_eps(fn) -> float:
    """max |fn(x) - tanh(x)| / (eps32 |tanh(x)|) over 2e6 float32 points of [-10, 10] and tiny |x|,
    tanh in float64."""
    x = torch.cat([torch.linspace(-10, 10, 2_000_001), torch.logspace(-30, -1, 1_000)]).float()
    exact = torch.tanh(x.double())
    err = (fn(x).double() - exact).abs()
    return float((err / (torch.finfo(torch.float32).eps * exact.abs().clamp_min(1e-300))).max())


def test_rational_tanh_within_4_ulps_of_tanh():
    """Bound: 4 float32 eps relative, on a dense grid past the clamp (tanh = +-1 there) and at
    tiny |x| (tanh(x) = x); exactly 0 at 0 and odd."""
    assert _rational_error_in_eps(activations.rational_tanh) <= RATIONAL_ULPS
    x = torch.tensor([0.0, 0.3, 5.0, 50.0])
    assert activations.rational_tanh(x)[0] == 0
    assert torch.equal(activations.rational_tanh(-x), -activations.rational_tanh(x))


def test_rational_tanh_bound_has_teeth():
    """Negative control: the same function with its highest coefficient of P dropped is off by
    far more than 4 eps, so the bound above can fail."""
    def truncated(x):
        saved = activations._TANH_P
        activations._TANH_P = saved[:-1]
        try:
            return activations.rational_tanh(x)
        finally:
            activations._TANH_P = saved
    assert _rational_error_in_eps(truncated) > 100 * RATIONAL_ULPS


def test_tanh_is_torch_tanh_eagerly_and_fused_arithmetic_when_compiled(monkeypatch):
    """The tanh activation is torch.tanh eagerly, and when a graph is being compiled
    (torch.compiler.is_compiling, patched here to save a compile) rational_tanh in float32,
    cody_waite_tanh in float64 and torch.tanh in other dtypes."""
    x = torch.linspace(-4, 4, 1001)
    tanh = activations.get("tanh").value
    assert torch.equal(tanh(x), torch.tanh(x))
    assert torch.equal(tanh(x.double()), torch.tanh(x.double()))
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert torch.equal(tanh(x), activations.rational_tanh(x))
    assert not torch.equal(tanh(x), torch.tanh(x))  # a different function: the check above has teeth
    assert torch.equal(tanh(x.double()), activations.cody_waite_tanh(x.double()))
    assert not torch.equal(tanh(x.double()), torch.tanh(x.double()))
    assert torch.equal(tanh(x.bfloat16()), torch.tanh(x.bfloat16()))


# cody_waite_tanh: the compiled float64 tanh
CODY_WAITE_ULPS = 2.5  # 1 ulp of exp, and a few half-ulp roundings damped by t <= 1/3 (docstring)


def _cody_waite_error_in_eps(fn) -> float:
    """max |fn(x) - tanh(x)| / (eps64 |tanh(x)|), tanh in numpy's long double (at least 64 bits
    of mantissa on x86-64), over a grid of [-25, 25], both sides of the split at ln(3)/2, and
    tiny |x| down to 1e-300."""
    x = np.concatenate([np.linspace(-25, 25, 400_001), np.linspace(0.5, 0.6, 100_001),
                        np.logspace(-300, 0, 2_000), -np.logspace(-300, 0, 2_000)])
    exact = np.tanh(x.astype(np.longdouble))
    got = fn(torch.from_numpy(x)).numpy().astype(np.longdouble)
    return float((np.abs(got - exact) / np.abs(exact).clip(1e-300)).max() / np.finfo(np.float64).eps)


def test_cody_waite_tanh_within_2_5_ulps_of_tanh():
    if np.finfo(np.longdouble).nmant < 63:
        pytest.skip("the reference needs numpy's long double to be wider than float64 (x86-64: 64 bits)")
    assert _cody_waite_error_in_eps(activations.cody_waite_tanh) <= CODY_WAITE_ULPS
    special = torch.tensor([0.0, -0.0, 1e308, -1e308, float("inf"), -float("inf"), float("nan")],
                           dtype=torch.float64)
    got = activations.cody_waite_tanh(special)
    assert got[:6].tolist() == [0.0, 0.0, 1.0, -1.0, 1.0, -1.0] and torch.isnan(got[6])
    assert torch.signbit(got[1])  # tanh(-0) = -0
    x = torch.linspace(-3, 3, 1001, dtype=torch.float64)
    assert torch.equal(activations.cody_waite_tanh(-x), -activations.cody_waite_tanh(x))


def test_cody_waite_tanh_bound_has_teeth(monkeypatch):
    """Negative control: with P's last coefficient dropped the error far exceeds 2.5 ulps."""
    monkeypatch.setattr(activations, "_CW_P", activations._CW_P[:2] + (0.0,))
    assert _cody_waite_error_in_eps(activations.cody_waite_tanh) > 1e3 * CODY_WAITE_ULPS


# The compiled tanh's gradient: tanh' at the computed value, (1 - y)(1 + y)
RATIONAL_GRAD_EPS = 9  # 8 eps y^2 from r's 4 eps relative error, plus eps from rounding the product


def _compiled_tanh_grad(x: Tensor, monkeypatch) -> Tensor:
    """d/dx of the tanh activation as a compiled graph sees it (is_compiling patched)."""
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(activations.get("tanh").value(x).sum(), x)
    return grad


def test_compiled_tanh_gradient_is_tanh_derivative_at_its_value(monkeypatch):
    """Under autograd the compiled tanh differentiates as (1 - y)(1 + y), y its value, exactly
    (the hand-written engine's rule); in float32 within 9 eps of tanh'(x) (float64) on 2e6 points."""
    x = torch.linspace(-10, 10, 2_000_001)
    grad = _compiled_tanh_grad(x, monkeypatch)
    y = activations.rational_tanh(x)
    assert torch.equal(grad, (1 - y) * (1 + y))
    exact = 1 / torch.cosh(x.double()) ** 2
    assert float((grad.double() - exact).abs().max()) <= RATIONAL_GRAD_EPS * torch.finfo(torch.float32).eps
    # negative control: autograd through x P / Q itself is a different function of x
    x = x.requires_grad_(True)
    (expanded,) = torch.autograd.grad(activations.rational_tanh(x).sum(), x)
    assert not torch.equal(grad, expanded)
    # float64: the same rule at cody_waite_tanh's value
    x64 = torch.linspace(-10, 10, 100_001, dtype=torch.float64)
    y64 = activations.cody_waite_tanh(x64)
    assert torch.equal(_compiled_tanh_grad(x64, monkeypatch), (1 - y64) * (1 + y64))


def test_compiled_tanh_gradient_bound_has_teeth(monkeypatch):
    """Negative control: with the (1 + y) factor dropped the gradient is off by far more than 9 eps."""
    monkeypatch.setattr(activations, "_tanh_derivative", lambda x, y: 1 - y)
    x = torch.linspace(-3, 3, 10_001)
    grad = _compiled_tanh_grad(x, monkeypatch)
    exact = 1 / torch.cosh(x.double()) ** 2
    assert float((grad.double() - exact).abs().max()) > 100 * RATIONAL_GRAD_EPS * torch.finfo(torch.float32).eps
