"""A helper for the compiled-step tests (a plain module, not a test file)."""
from __future__ import annotations

from typing import Callable

import torch


def with_a_graph_break(engine_function: Callable) -> Callable:
    """``approx.train.engine_function`` whose loss_and_grad breaks dynamo's graph before it runs:
    patched in, a compile with fullgraph=True must raise instead of splitting the step."""
    def breaking(engine):
        loss_and_grad = engine_function(engine)

        def with_a_break(*args):
            torch._dynamo.graph_break()
            return loss_and_grad(*args)
        return with_a_break
    return breaking
