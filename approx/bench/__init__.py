"""The benchmark's library parts, one idea per module (the study, with its analysis, figure and
text, is experiments/benchmark/).

``timing``: median and IQR of a call (CPU: torch.utils.benchmark at a set thread count; CUDA:
events). ``flops``: the FLOP model of a training step and the measured matrix-product peak.
``precision``: float64 / float32 / TF32 / bf16-autocast as one table. ``steps``: one training
step per engine and mode (hand-written, autograd, nn.Module + torch.optim, torch.compile, an
ensemble loop). ``graphs``: a step captured in a CUDA graph. ``measure``: one row of the table.
"""
