"""The Network: one plain data structure for a multilayer perceptron, shared by every engine.

A Network with L layers computes, for an input x of shape (batch, d_0),

    h_0 = x,    z_l = s_l * h_{l-1} W_l^T + b_l,    h_l = phi_l(z_l),    f(x) = h_L,

with W_l of shape (d_l, d_{l-1}), b_l of shape (d_l,), an activation name phi_l per layer (the
output layer is linear by default) and a fixed scalar s_l (1 in the standard parameterisation,
1/sqrt(d_{l-1}) in the neural tangent parameterisation of Jacot, Gabriel & Hongler 2018).

An *ensemble* of E networks of the same shape lives in one object: every tensor gains a leading
axis E (W_l: (E, d_l, d_{l-1}), b_l: (E, d_l)) and the forward pass is one batched matrix
product per layer. The input is then (batch, d_0), shared by all members, or (E, batch, d_0),
one data set per member; the output is (E, batch, d_L).

The Network holds tensors and names, nothing else: engines (``approx.backprop``,
``approx.autograd``) compute its gradients, optimizers replace its parameters, constructions
build it by formula, and ``to_module`` / ``from_module`` convert it to and from an ordinary
``torch.nn.Sequential`` without loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from numbers import Integral
from typing import Sequence

import torch
from torch import Tensor, nn

from . import activations as _activations
from .device import resolve_device

__all__ = ["Layer", "Network", "ScaledLinear", "INITS", "DTYPES", "member_seeds"]

# The floating-point precisions a Config may name for its networks and data, by name.
DTYPES = {"float32": torch.float32, "float64": torch.float64}

# Initialisation schemes: W ~ scheme(fan_in), the layer's fixed scale s, and the bias.
#   standard: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), s = 1   (torch.nn.Linear's default)
#   he:       W ~ N(0, 2/fan_in), b = 0, s = 1                    (He et al. 2015, for ReLU)
#   ntk:      W ~ N(0, 1), b = 0, s = 1/sqrt(fan_in)              (Jacot et al. 2018)
INITS = ("standard", "he", "ntk")


@dataclass(frozen=True)
class Layer:
    """One affine map followed by an activation: h = phi(scale * x W^T + b)."""

    weight: Tensor  # (out, in), or (E, out, in) for an ensemble
    bias: Tensor  # (out,), or (E, out)
    activation: str  # a name from approx.activations
    scale: float = 1.0  # fixed multiplier of x W^T; not a trained parameter

    @property
    def fan_in(self) -> int:
        return self.weight.shape[-1]

    @property
    def fan_out(self) -> int:
        return self.weight.shape[-2]


class Network:
    """A multilayer perceptron (or an ensemble of E of them) as a list of Layers."""

    def __init__(self, layers: Sequence[Layer]):
        layers = list(layers)
        if not layers:
            raise ValueError("a Network needs at least one layer; got none")
        first = layers[0].weight
        ensemble_axis = first.ndim == 3
        for i, layer in enumerate(layers):
            _activations.get(layer.activation)  # raises on unknown names
            w, b = layer.weight, layer.bias
            if w.ndim != (3 if ensemble_axis else 2) or b.ndim != w.ndim - 1:
                raise ValueError(
                    f"layer {i}: weight {tuple(w.shape)} and bias {tuple(b.shape)} must be "
                    "(out, in) and (out,), or (E, out, in) and (E, out) in every layer"
                )
            if b.shape != w.shape[:-1] or (ensemble_axis and w.shape[0] != first.shape[0]):
                raise ValueError(
                    f"layer {i}: bias {tuple(b.shape)} does not match weight {tuple(w.shape)}"
                )
            if i > 0 and w.shape[-1] != layers[i - 1].weight.shape[-2]:
                raise ValueError(
                    f"layer {i} takes {w.shape[-1]} inputs but layer {i - 1} gives "
                    f"{layers[i - 1].weight.shape[-2]}"
                )
            if not w.is_floating_point() or w.dtype != first.dtype or b.dtype != first.dtype:
                raise ValueError(f"layer {i}: all tensors must share one float dtype; got weight {w.dtype} and "
                                 f"bias {b.dtype} where layer 0's weight is {first.dtype}")
            if w.device != first.device or b.device != first.device:
                raise ValueError(f"layer {i}: all tensors must live on one device; got weight on {w.device} and "
                                 f"bias on {b.device} where layer 0's weight is on {first.device}")
        self.layers: list[Layer] = layers

    # ------------------------------------------------------------------ construction
    @classmethod
    def random(
        cls,
        sizes: Sequence[int],
        activation: str | Sequence[str] = "relu",
        *,
        seed: int | Sequence[int] = 0,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
        ensemble: int | None = None,
        init: str = "standard",
        init_scale: float = 1.0,
    ) -> "Network":
        """A randomly initialised network with layer widths ``sizes`` = [d_0, d_1, ..., d_L].

        activation: one name for every hidden layer (the output layer is then linear), or a
            list with one name per layer (length L), or one per hidden layer (length L - 1).
        seed: an int, or one int per ensemble member. Member e of ``ensemble=E`` with an int
            seed s uses seed s + e, so an ensemble equals the same networks drawn one by one.
        init: one of INITS; ``init_scale`` multiplies every initial weight and bias (for
            "small initialisation" studies).
        Parameters are drawn in float64 on the CPU and then cast and moved, so a seed gives
        the same network (to rounding) on every device and in every dtype.
        """
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list >= 2 positive widths, got {list(sizes)}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; allowed: {', '.join(INITS)}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a float dtype, got {dtype}")
        n_layers = len(sizes) - 1
        names = _layer_activations(activation, n_layers)
        seeds = member_seeds(seed, ensemble)
        device = resolve_device(device)

        members = [_draw(sizes, s, init, init_scale) for s in seeds]  # list of [(W, b)] float64
        layers = []
        for l in range(n_layers):
            if ensemble is None and not isinstance(seed, (list, tuple)):
                w, b = members[0][l]
            else:
                w = torch.stack([m[l][0] for m in members])
                b = torch.stack([m[l][1] for m in members])
            scale = 1.0 / math.sqrt(sizes[l]) if init == "ntk" else 1.0
            layers.append(Layer(w.to(device, dtype), b.to(device, dtype), names[l], scale))
        return cls(layers)

    @classmethod
    def from_parameters(
        cls,
        parameters: Sequence[Tensor],
        activations: Sequence[str],
        scales: Sequence[float] | None = None,
    ) -> "Network":
        """A Network from [W1, b1, W2, b2, ...], one activation name and scale per layer."""
        if len(parameters) % 2 or len(parameters) // 2 != len(activations):
            raise ValueError(
                f"need [W1, b1, ...] for {len(activations)} layers, got {len(parameters)} tensors"
            )
        scales = [1.0] * len(activations) if scales is None else list(scales)
        return cls(
            [
                Layer(parameters[2 * i], parameters[2 * i + 1], a, float(s))
                for i, (a, s) in enumerate(zip(activations, scales))
            ]
        )

    @classmethod
    def stack(cls, networks: Sequence["Network"]) -> "Network":
        """One ensemble from same-shaped single networks (member e is ``networks[e]``)."""
        networks = list(networks)
        if not networks:
            raise ValueError("Network.stack needs at least one network")
        ref = networks[0]
        for n in networks:
            if n.ensemble is not None:
                raise ValueError("Network.stack takes single networks, not ensembles")
            if n.sizes != ref.sizes or n.activations != ref.activations or n.scales != ref.scales:
                raise ValueError(
                    f"cannot stack networks of different shapes: {n!r} and {ref!r}"
                )
        layers = [
            replace(layer, weight=torch.stack([n.layers[l].weight for n in networks]),
                    bias=torch.stack([n.layers[l].bias for n in networks]))
            for l, layer in enumerate(ref.layers)
        ]
        return cls(layers)

    # ------------------------------------------------------------------ reading
    @property
    def ensemble(self) -> int | None:
        """E for an ensemble of E networks, None for a single network."""
        w = self.layers[0].weight
        return w.shape[0] if w.ndim == 3 else None

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].fan_in] + [layer.fan_out for layer in self.layers]

    @property
    def activations(self) -> list[str]:
        return [layer.activation for layer in self.layers]

    @property
    def scales(self) -> list[float]:
        return [layer.scale for layer in self.layers]

    @property
    def depth(self) -> int:
        """Number of layers with weights (hidden layers + the output layer)."""
        return len(self.layers)

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].weight.dtype

    @property
    def device(self) -> torch.device:
        return self.layers[0].weight.device

    @property
    def n_params(self) -> int:
        """Trainable parameters of one network (one member of an ensemble)."""
        return sum(l.fan_in * l.fan_out + l.fan_out for l in self.layers)

    def parameters(self) -> list[Tensor]:
        """[W1, b1, W2, b2, ...], the order in which every engine returns gradients."""
        return [t for layer in self.layers for t in (layer.weight, layer.bias)]

    def with_parameters(self, parameters: Sequence[Tensor]) -> "Network":
        """The same architecture with new parameter tensors (shapes must match)."""
        return Network.from_parameters(parameters, self.activations, self.scales)

    def member(self, e: int) -> "Network":
        """Member e of an ensemble, as a single Network (sharing storage)."""
        if self.ensemble is None:
            raise ValueError("member() needs an ensemble; this is a single network")
        if not 0 <= e < self.ensemble:
            raise ValueError(f"member {e} out of range 0..{self.ensemble - 1}")
        return self.with_parameters([p[e] for p in self.parameters()])

    def unstack(self) -> list["Network"]:
        return [self.member(e) for e in range(self.ensemble or 0)] if self.ensemble else [self]

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None):
        """A copy on another device and/or in another dtype."""
        device = self.device if device is None else resolve_device(device)
        dtype = self.dtype if dtype is None else dtype
        return self.with_parameters([p.to(device=device, dtype=dtype) for p in self.parameters()])

    def clone(self) -> "Network":
        return self.with_parameters([p.clone() for p in self.parameters()])

    def __repr__(self) -> str:
        ens = f", ensemble={self.ensemble}" if self.ensemble else ""
        return (
            f"Network(sizes={self.sizes}, activations={self.activations}{ens}, "
            f"dtype={str(self.dtype).replace('torch.', '')}, device={self.device})"
        )

    # ------------------------------------------------------------------ forward
    def check_input(self, x: Tensor) -> None:
        """Raise a ValueError unless x is (batch, d_0), or (E, batch, d_0) for an ensemble."""
        ok_ndim = (2, 3) if self.ensemble else (2,)
        if not isinstance(x, Tensor) or x.ndim not in ok_ndim or x.shape[-1] != self.sizes[0]:
            want = f"(batch, {self.sizes[0]})"
            if self.ensemble:
                want += f" or ({self.ensemble}, batch, {self.sizes[0]})"
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"input must have shape {want}; got {got}")
        if x.ndim == 3 and x.shape[0] != self.ensemble:
            raise ValueError(f"input has {x.shape[0]} data sets for an ensemble of {self.ensemble}")

    def __call__(self, x: Tensor) -> Tensor:
        """f(x): (batch, d_L), or (E, batch, d_L) for an ensemble."""
        self.check_input(x)
        h = x
        for layer in self.layers:
            h = _activations.get(layer.activation).value(affine(h, layer))
        return h

    forward = __call__

    # ------------------------------------------------------------------ torch.nn interop
    def to_module(self) -> nn.Sequential:
        """An nn.Sequential of Linear (ScaledLinear where scale != 1) and activation modules.

        The output layer's identity is omitted; a hidden identity becomes nn.Identity so that
        layer boundaries survive the round trip.
        """
        if self.ensemble is not None:
            raise ValueError("to_module() takes a single network; use member(e) on an ensemble")
        modules: list[nn.Module] = []
        for i, layer in enumerate(self.layers):
            cls_ = nn.Linear if layer.scale == 1.0 else ScaledLinear
            lin = cls_(layer.fan_in, layer.fan_out, device=self.device, dtype=self.dtype)
            if isinstance(lin, ScaledLinear):
                lin.scale = layer.scale
            with torch.no_grad():
                lin.weight.copy_(layer.weight)
                lin.bias.copy_(layer.bias)
            modules.append(lin)
            if layer.activation != "identity" or i < len(self.layers) - 1:
                modules.append(_MODULES[layer.activation]())
        return nn.Sequential(*modules)

    @classmethod
    def from_module(cls, module: nn.Module) -> "Network":
        """The Network of an nn.Sequential of Linear layers and supported activations."""
        children = list(module.children()) if isinstance(module, nn.Sequential) else [module]
        layers: list[Layer] = []
        pending: nn.Linear | None = None

        def close(activation: str) -> None:
            w = pending.weight.detach().clone()
            b = pending.bias.detach().clone() if pending.bias is not None else w.new_zeros(w.shape[0])
            layers.append(Layer(w, b, activation, float(getattr(pending, "scale", 1.0))))

        for child in children:
            if isinstance(child, nn.Linear):
                if pending is not None:
                    close("identity")
                pending = child
                continue
            name = _module_activation(child)
            if pending is None:
                raise ValueError(f"activation {child!r} must follow a Linear layer")
            close(name)
            pending = None
        if pending is not None:
            close("identity")
        return cls(layers)


def affine(h: Tensor, layer: Layer) -> Tensor:
    """z = scale * h W^T + b for h (batch, in) or (E, batch, in); z is (batch, out) / (E, batch, out)."""
    w, b, s = layer.weight, layer.bias, layer.scale
    if w.shape[-1] == 1 and torch.compiler.is_compiling():
        # one input (the first layer of a 1-D study), in a compiled step: h W^T is an outer
        # product, and as the broadcast product h * W^T it fuses into the graph's kernels instead
        # of an external GEMM of inner dimension 1 (one thread, [1, 16, 16, 1] tanh on 64 points:
        # 4.07 -> 3.27 us per model-step at E = 64, 3.67 -> 3.01 at E = 1024, in consecutive
        # runs of the benchmark's peer preset). Eager steps keep the GEMM:
        # the committed results, and the two engines' bit-for-bit agreement, rest on its rounding
        # (autograd differentiates a broadcast product by a reduction, our rule by a product).
        # (batch, 1) or (E, batch, 1) times (1, out) or (E, 1, out)
        return torch.addcmul(b if w.ndim == 2 else b.unsqueeze(1), h, w.mT, value=s)
    if w.ndim == 2:
        return torch.addmm(b, h, w.T, alpha=s)
    if h.ndim == 2:  # one data set shared by all E members
        h = h.expand(w.shape[0], *h.shape)
    return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2), alpha=s)


class ScaledLinear(nn.Linear):
    """nn.Linear with a fixed multiplier on x W^T: y = scale * x W^T + b (NTK parameterisation)."""

    scale: float = 1.0

    def forward(self, x: Tensor) -> Tensor:
        return torch.nn.functional.linear(x, self.weight) * self.scale + self.bias

    def extra_repr(self) -> str:
        return super().extra_repr() + f", scale={self.scale:.6g}"


class _Ramp(nn.Hardtanh):
    """ramp(x) = clamp(x, 0, 1) = relu(x) - relu(x - 1)."""

    def __init__(self) -> None:
        super().__init__(0.0, 1.0)


_MODULES: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "ramp": _Ramp,
}


def _module_activation(child: nn.Module) -> str:
    if isinstance(child, nn.Hardtanh) and (child.min_val, child.max_val) == (0.0, 1.0):
        return "ramp"
    if isinstance(child, nn.Softplus) and (child.beta, child.threshold) != (1.0, 20.0):
        raise ValueError(f"only Softplus(beta=1, threshold=20) is supported, got {child!r}")
    for name, cls_ in _MODULES.items():
        if type(child) is cls_:
            return name
    allowed = ", ".join(c.__name__ for c in _MODULES.values())
    raise ValueError(f"unsupported module {child!r}; allowed: Linear, {allowed}")


def _layer_activations(activation: str | Sequence[str], n_layers: int) -> list[str]:
    if isinstance(activation, str):
        names = [activation] * (n_layers - 1) + ["identity"]
    else:
        names = list(activation)
        if len(names) == n_layers - 1:
            names = names + ["identity"]
        if len(names) != n_layers:
            raise ValueError(
                f"need one activation per layer ({n_layers}) or per hidden layer "
                f"({n_layers - 1}); got {len(names)}"
            )
    for name in names:
        _activations.get(name)
    return names


def member_seeds(seed: int | Sequence[int], ensemble: int | None) -> list[int]:
    """The seed of each member: one int s gives member e the seed s + e (a single network: s);
    a list gives one int per member, and where ``ensemble`` is None its length is the number
    of members.

    The one rule for everything drawn per member: ``Network.random`` draws member e from its
    seed, and ``approx.train.fit`` draws member e's mini-batch order from it, so member e of an
    ensemble is, and trains as, the single network seeded with ``member_seeds(seed, E)[e]``.
    """
    if isinstance(seed, (list, tuple)):
        if not seed or not all(_is_int(s) for s in seed):
            raise ValueError(f"seed must be an int or a non-empty list of ints, got {seed!r}")
        if ensemble is not None and ensemble != len(seed):
            raise ValueError(f"seed lists {len(seed)} seeds for {ensemble} member(s); need one int per member")
        return [int(s) for s in seed]
    if not _is_int(seed):
        raise ValueError(f"seed must be an int or a list of ints, got {seed!r}")
    if ensemble is None:
        return [int(seed)]
    if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 1:
        raise ValueError(f"ensemble must be a positive int or None, got {ensemble!r}")
    return [int(seed) + e for e in range(ensemble)]


def _is_int(value) -> bool:
    """An integer (Python's or numpy's), not a bool: True is no seed."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _draw(sizes: list[int], seed: int, init: str, init_scale: float) -> list[tuple[Tensor, Tensor]]:
    """Draw [(W_l, b_l)] in float64 on the CPU from one seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        if init == "standard":
            bound = 1.0 / math.sqrt(fan_in)
            w = (torch.rand(fan_out, fan_in, generator=gen, dtype=torch.float64) * 2 - 1) * bound
            b = (torch.rand(fan_out, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        elif init == "he":
            w = torch.randn(fan_out, fan_in, generator=gen, dtype=torch.float64) * math.sqrt(2.0 / fan_in)
            b = torch.zeros(fan_out, dtype=torch.float64)
        else:  # ntk: unit-variance weights, the 1/sqrt(fan_in) lives in the layer's scale
            w = torch.randn(fan_out, fan_in, generator=gen, dtype=torch.float64)
            b = torch.zeros(fan_out, dtype=torch.float64)
        params.append((w * init_scale, b * init_scale))
    return params

