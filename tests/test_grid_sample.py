"""F.affine_grid and F.grid_sample (module 05) against PyTorch: values and gradients."""

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinytorch.nn.functional as F  # noqa: E402
from tinytorch.core.tensor import Tensor as _Tensor  # noqa: E402


def Tensor(a, requires_grad=False):
    """A Tensor keeping the array's dtype (float64 here)."""
    return _Tensor(a, dtype=np.asarray(a).dtype, requires_grad=requires_grad)

MODES = ("bilinear", "nearest", "bicubic")
PADDINGS = ("zeros", "border", "reflection")


def _case(seed, shape=(2, 3, 5, 6), out=(4, 7), spread=1.6):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    grid = rng.uniform(-spread, spread, (shape[0],) + out + (2,))  # points outside [-1, 1] too
    return x, grid


@pytest.mark.parametrize("seed,mode,padding_mode,align_corners",
                         [(i,) + case for i, case in enumerate(itertools.product(MODES, PADDINGS, (False, True)))])
def test_grid_sample_values_and_grads_match_torch(seed, mode, padding_mode, align_corners):
    x, grid = _case(seed)
    weights = np.random.default_rng(1).standard_normal((2, 3) + grid.shape[1:3])
    tx, tg = Tensor(x, requires_grad=True), Tensor(grid, requires_grad=True)
    out = F.grid_sample(tx, tg, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    (out * Tensor(weights)).sum().backward()
    rx, rg = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
    ref = torch.nn.functional.grid_sample(rx, rg, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    (ref * torch.tensor(weights)).sum().backward()
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tx.grad.data, rx.grad.numpy(), rtol=1e-10, atol=1e-12)
    if mode == "nearest":  # piecewise constant: PyTorch's grid gradient is zeros, ours is absent
        assert tg.grad is None or not np.any(tg.grad.data)
        assert not rg.grad.any()
    else:
        assert np.any(rg.grad.numpy())
        np.testing.assert_allclose(tg.grad.data, rg.grad.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("align_corners", (False, True))
def test_grid_sample_exact_pixel_centres_and_half_points(align_corners):
    """Grid points on pixel centres and halfway between them (ties of nearest, borders of clipping)."""
    H, W = 4, 5
    x = np.random.default_rng(3).standard_normal((1, 2, H, W))
    px = np.arange(-2, 2 * W + 2) / 2.0  # pixel units, step 0.5, beyond both edges
    py = np.arange(-2, 2 * H + 2) / 2.0
    if align_corners:
        gx, gy = px * 2 / (W - 1) - 1, py * 2 / (H - 1) - 1
    else:
        gx, gy = (2 * px + 1) / W - 1, (2 * py + 1) / H - 1
    grid = np.stack(np.meshgrid(gx, gy), axis=-1)[None]
    weights = np.random.default_rng(4).standard_normal((1, 2) + grid.shape[1:3])
    for mode, padding_mode in itertools.product(MODES, PADDINGS):
        tx, tg = Tensor(x, requires_grad=True), Tensor(grid, requires_grad=True)
        out = F.grid_sample(tx, tg, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
        (out * Tensor(weights)).sum().backward()
        rx, rg = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
        ref = torch.nn.functional.grid_sample(rx, rg, mode=mode, padding_mode=padding_mode,
                                              align_corners=align_corners)
        (ref * torch.tensor(weights)).sum().backward()
        what = f"{mode} {padding_mode}"
        np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=1e-12, err_msg=what)
        np.testing.assert_allclose(tx.grad.data, rx.grad.numpy(), atol=1e-12, err_msg=what)
        if mode != "nearest":  # on pixel centres and clipping borders: PyTorch's one-sided conventions
            np.testing.assert_allclose(tg.grad.data, rg.grad.numpy(), atol=1e-10, err_msg=what)


def test_grid_sample_float32_and_single_pixel_axes():
    x, grid = _case(7, shape=(1, 2, 1, 3), out=(2, 3))
    for mode, padding_mode, ac in itertools.product(MODES, PADDINGS, (False, True)):
        out = F.grid_sample(Tensor(x.astype(np.float32)), Tensor(grid.astype(np.float32)), mode=mode,
                            padding_mode=padding_mode, align_corners=ac)
        ref = torch.nn.functional.grid_sample(torch.tensor(x, dtype=torch.float32),
                                              torch.tensor(grid, dtype=torch.float32), mode=mode,
                                              padding_mode=padding_mode, align_corners=ac)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-4, atol=1e-5, err_msg=f"{mode} {padding_mode} {ac}")


@pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid")
@pytest.mark.parametrize("align_corners", (False, True))
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (1, 1, 1, 3), (3, 2, 6, 1)])
def test_affine_grid_values_and_theta_grad_match_torch(size, align_corners):
    theta = np.random.default_rng(5).standard_normal((size[0], 2, 3))
    weights = np.random.default_rng(6).standard_normal(size[:1] + size[2:] + (2,))
    tt = Tensor(theta, requires_grad=True)
    grid = F.affine_grid(tt, size, align_corners=align_corners)
    (grid * Tensor(weights)).sum().backward()
    rt = torch.tensor(theta, requires_grad=True)
    ref = torch.nn.functional.affine_grid(rt, size, align_corners=align_corners)
    (ref * torch.tensor(weights)).sum().backward()
    assert grid.shape == tuple(ref.shape)
    np.testing.assert_allclose(grid.data, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tt.grad.data, rt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_spatial_transformer_chain_gradient_to_theta():
    """affine_grid → grid_sample: the gradient reaches theta as in PyTorch."""
    x = np.random.default_rng(8).standard_normal((2, 3, 6, 5))
    theta = np.array([[[0.9, 0.2, 0.1], [-0.1, 1.1, 0.05]], [[1.2, -0.3, -0.2], [0.25, 0.8, 0.3]]])
    tt, rt = Tensor(theta, requires_grad=True), torch.tensor(theta, requires_grad=True)
    out = F.grid_sample(Tensor(x), F.affine_grid(tt, (2, 3, 4, 4)), padding_mode="border")
    (out * out).sum().backward()
    ref = torch.nn.functional.grid_sample(torch.tensor(x), torch.nn.functional.affine_grid(rt, (2, 3, 4, 4),
                                                                                           align_corners=False),
                                          padding_mode="border", align_corners=False)
    (ref * ref).sum().backward()
    np.testing.assert_allclose(tt.grad.data, rt.grad.numpy(), rtol=1e-9)


def test_errors():
    x, grid = Tensor(np.zeros((1, 1, 2, 2))), Tensor(np.zeros((1, 2, 2, 2)))
    with pytest.raises(ValueError, match="mode"):
        F.grid_sample(x, grid, mode="area")
    with pytest.raises(ValueError, match="padding_mode"):
        F.grid_sample(x, grid, padding_mode="circular")
    with pytest.raises(NotImplementedError, match="5-D"):
        F.grid_sample(Tensor(np.zeros((1, 1, 2, 2, 2))), Tensor(np.zeros((1, 2, 2, 2, 3))))
    with pytest.raises(NotImplementedError, match="3-D"):
        F.affine_grid(Tensor(np.zeros((1, 3, 4))), (1, 1, 2, 2, 2))
    with pytest.raises(ValueError, match="Nx2x3"):
        F.affine_grid(Tensor(np.zeros((1, 3, 3))), (1, 1, 2, 2))
    with pytest.raises(RuntimeError, match="batch size"):
        F.grid_sample(x, Tensor(np.zeros((2, 2, 2, 2))))
