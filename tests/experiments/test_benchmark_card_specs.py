"""experiments/benchmark/card_specs: the datasheet table gives the figures NVIDIA prints, dense."""
from __future__ import annotations

import pytest

from experiments.benchmark import card_specs


def test_h100_sxm_figures_are_the_datasheets():
    """NVIDIA H100 datasheet, H100 SXM: FP64 Tensor Core 67, FP32 67, TF32 989 and BF16 1,979
    TFLOP/s, the last two shown with sparsity (dense: half)."""
    assert card_specs.spec_flops_per_s("NVIDIA H100 80GB HBM3", "float32") == 67e12
    assert card_specs.spec_flops_per_s("NVIDIA H100 80GB HBM3", "float64") == 67e12
    assert card_specs.spec_flops_per_s("NVIDIA H100 80GB HBM3", "tf32") == 494.5e12
    assert card_specs.spec_flops_per_s("NVIDIA H100 80GB HBM3", "bf16-autocast") == 989.5e12
    # the H200 SXM lists the same rates; the H100 PCIe card less (FP32 51)
    assert card_specs.SPEC_TFLOPS["NVIDIA H200"] == card_specs.SPEC_TFLOPS["NVIDIA H100 80GB HBM3"]
    assert card_specs.spec_flops_per_s("NVIDIA H100 PCIe", "float32") == 51e12
    assert card_specs.spec_flops_per_s("NVIDIA A100-SXM4-80GB", "tf32") == 156e12


@pytest.mark.parametrize("name, precision", [("NVIDIA Made-Up 9000", "float32"),
                                             ("NVIDIA H100 80GB HBM3", "float16")])
def test_what_is_not_on_file_is_not_guessed(name, precision):
    assert card_specs.spec_flops_per_s(name, precision) is None


def test_every_card_has_every_precision():
    for name, rates in card_specs.SPEC_TFLOPS.items():
        assert set(rates) == {"float64", "float32", "tf32", "bf16-autocast"}, name
        # dense tensor-core rates sit above the CUDA cores' FP32 on every card listed
        assert rates["bf16-autocast"] > rates["tf32"] > rates["float32"] > 0, name
