"""approx.generalization: Arora et al.'s (2019) complexity sqrt(2 y^T (H^inf)^-1 y / n) on cases
with a known answer."""
import math

import pytest
import torch

from approx import ntk
from approx.generalization import arora_complexity


def test_orthonormal_inputs_give_two():
    """x_i = e_i: <x_i, x_j> = 0 off the diagonal, so H^inf = I/2 and y^T (H^inf)^-1 y = 2 ||y||^2 =
    2n for +-1 labels: the complexity is sqrt(2 * 2n / n) = 2 for every labelling."""
    x = torch.eye(6, dtype=torch.float64)
    for y in (torch.ones(6), torch.tensor([1.0, -1, 1, -1, -1, 1])):
        assert arora_complexity(x, y) == pytest.approx(2.0, rel=1e-12)
    # it scales with the labels: |c| times the complexity of y
    assert arora_complexity(x, 3 * torch.ones(6, 1)) == pytest.approx(6.0, rel=1e-12)


def test_two_points_known_answer_and_order():
    """Two unit vectors at angle theta: H^inf = [[1/2, h], [h, 1/2]] with h = cos(theta) (pi - theta)
    / (2 pi). y = (1, 1) and (1, -1) are its eigenvectors (eigenvalues 1/2 + h and 1/2 - h), so
    the complexity is sqrt(2 * 2 / (1/2 +- h) / 2) = sqrt(2 / (1/2 +- h))."""
    theta = 0.7
    x = torch.tensor([[1.0, 0.0], [math.cos(theta), math.sin(theta)]], dtype=torch.float64)
    h = math.cos(theta) * (math.pi - theta) / (2 * math.pi)
    agree = arora_complexity(x, torch.tensor([1.0, 1.0]))
    disagree = arora_complexity(x, torch.tensor([1.0, -1.0]))
    assert agree == pytest.approx(math.sqrt(2 / (0.5 + h)), rel=1e-12)
    assert disagree == pytest.approx(math.sqrt(2 / (0.5 - h)), rel=1e-12)
    # labels that agree on nearby points are simpler; negative control: with H in place of its
    # inverse, sqrt(2 y^T H y / n), the order would be the other way round
    assert agree < disagree
    kernel = ntk.h_infinity(x)
    forward = [math.sqrt(2 * (y @ kernel @ y).item() / 2) for y in (torch.tensor([1.0, 1.0], dtype=torch.float64),
                                                                    torch.tensor([1.0, -1.0], dtype=torch.float64))]
    assert forward[0] > forward[1]


def test_random_labels_are_more_complex_than_a_half_space():
    """Arora et al.'s Section 5 (a seeded case): sign(x_1) on the sphere is far simpler than coin flips."""
    x = ntk.unit_sphere(60, 4, seed=0)
    clean = torch.sign(x[:, 0])
    coins = torch.randint(0, 2, (60,), generator=torch.Generator().manual_seed(1)).to(torch.float64) * 2 - 1
    assert arora_complexity(x, clean) < 0.75 * arora_complexity(x, coins)


@pytest.mark.parametrize("x, y, words", [
    (torch.eye(3, dtype=torch.float64), torch.ones(4), "one label per input"),
    (torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64), torch.ones(2), "not positive definite"),
    (2 * torch.eye(3, dtype=torch.float64), torch.ones(3), "unit norm"),
])
def test_bad_input_raises(x, y, words):
    with pytest.raises(ValueError, match=words):
        arora_complexity(x, y)
