"""The README's examples run as written: its Python block, and its two opening commands exist."""
from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_python_example_runs_and_engines_agree():
    namespace: dict = {}
    exec(compile(_blocks("python")[0], str(README), "exec"), namespace)  # noqa: S102 - our own README
    loss, loss_ref = namespace["loss"], namespace["loss_ref"]
    assert abs(loss - loss_ref) <= 1e-12 * abs(loss_ref)
    for g, g_ref in zip(namespace["grads"], namespace["grads_ref"]):
        torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-14)
    history = namespace["history"]
    assert history.loss.iloc[-1] < 0.1 * history.loss.iloc[0]  # 500 Adam steps fit sin(6x)


def test_readme_opens_with_the_two_commands():
    first, second = _blocks("bash")[:2]
    assert first.strip().endswith("approx reproduce")
    assert second.strip().endswith("python -m pytest")  # what .ci/run runs verbatim
