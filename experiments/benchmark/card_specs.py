"""What NVIDIA's datasheets specify as a card's peak matmul rate, quoted beside the peak the
benchmark measures: a utilisation against a self-measured peak looks high by construction, so the
text gives both.

``SPEC_TFLOPS[device_name][precision]`` is the datasheet's dense peak in TFLOP/s, keyed by the name
``torch.cuda.get_device_name`` reports and by the benchmark's precision names:

    float64        FP64 Tensor Core (cuBLAS's double GEMM runs on the FP64 tensor cores of A100,
                   H100 and H200; the FP64 CUDA cores alone give half: 34 TFLOP/s on H100 SXM)
    float32        FP32, the CUDA cores (TF32 off, so no tensor cores)
    tf32           TF32 Tensor Core, dense: half the datasheet's figure, which is "shown with sparsity"
    bf16-autocast  BF16 Tensor Core, dense: likewise half the datasheet's sparse figure

Sources (the "Specifications" tables):
    NVIDIA H100 Tensor Core GPU datasheet: H100 SXM FP64 TC 67, FP32 67, TF32 989*, BF16 1,979*;
        H100 PCIe FP64 TC 51, FP32 51, TF32 756*, BF16 1,513* (* with sparsity).
    NVIDIA H200 Tensor Core GPU datasheet: H200 SXM FP64 TC 67, FP32 67, TF32 989*, BF16 1,979*.
    NVIDIA A100 Tensor Core GPU datasheet: A100 (SXM and PCIe, 40 and 80 GB) FP64 TC 19.5,
        FP32 19.5, TF32 312*, BF16 624*.
A card not in the table gets no specification (the text says so); nothing is guessed.
"""
from __future__ import annotations

__all__ = ["SPEC_TFLOPS", "spec_flops_per_s"]


def _card(fp64_tensor: float, fp32: float, tf32_sparse: float, bf16_sparse: float) -> dict[str, float]:
    """One card's dense peaks (TFLOP/s) by precision, from its datasheet's figures."""
    return {"float64": fp64_tensor, "float32": fp32, "tf32": tf32_sparse / 2, "bf16-autocast": bf16_sparse / 2}


_H100_SXM = _card(67, 67, 989, 1979)
_A100 = _card(19.5, 19.5, 312, 624)
SPEC_TFLOPS: dict[str, dict[str, float]] = {
    "NVIDIA H100 80GB HBM3": _H100_SXM,  # H100 SXM5 (the PCIe card reports "NVIDIA H100 PCIe")
    "NVIDIA H100 PCIe": _card(51, 51, 756, 1513),
    "NVIDIA H200": _H100_SXM,  # H200 SXM: the H100 SXM's chip and rates, more and faster memory
    "NVIDIA A100-SXM4-80GB": _A100,
    "NVIDIA A100-SXM4-40GB": _A100,
    "NVIDIA A100 80GB PCIe": _A100,
    "NVIDIA A100-PCIE-40GB": _A100,
}


def spec_flops_per_s(device_name: str, precision: str) -> float | None:
    """The datasheet's dense peak in FLOP/s for this card and precision, or None if not on file."""
    tflops = SPEC_TFLOPS.get(device_name, {}).get(precision)
    return None if tflops is None else tflops * 1e12
