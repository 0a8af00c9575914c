"""The call contract of ``estimate_sharpness``: one channel per setting, at most 15 parameters,
the moved keywords working for one release with a warning, and any object meeting the
``UpdateMap`` protocol accepted. Oracles: the planted least-squares spectrum (closed form
``ln|1 − ηα|``), the 2×2 heavy-ball blocks in the eigenbasis (numpy's SVD of each block), and
the same call in the new spelling (bit for bit, for the deprecation path)."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import torch

import sharpdim
from sharpdim import EstimateOptions, estimate_sharpness, make_update_map
from sharpdim.curvature.update_maps import SGDUpdate, UpdateMap
from sharpdim.testing.oracles.planted_regression import planted_regression

ALPHA = np.array([0.2, 0.7, 1.5, 3.0, 4.5])  # planted full-batch Hessian eigenvalues
LR = 0.5


class PlainSGD:
    """A user's own update map: not a dataclass, not one of sharpdim's classes."""

    n_blocks = 1
    block_names = ("w",)

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def step(self, state, grad_fn):
        return state - self.lr * grad_fn(state)


class OwnHeavyBall:
    """A user's own heavy ball on ``(w, v)``: ``v' = βv + ∇L(w)``, ``w' = w − ηv'``."""

    n_blocks = 2
    block_names = ("w", "v")

    def __init__(self, lr: float, momentum: float) -> None:
        self.lr, self.momentum = lr, momentum

    def step(self, state, grad_fn):
        w, v = state.chunk(2)
        v_new = self.momentum * v + grad_fn(w)
        return torch.cat([w - self.lr * v_new, v_new])


def _planted():
    return planted_regression(ALPHA, seed=3)


def test_estimate_sharpness_has_at_most_15_parameters():
    assert len(inspect.signature(estimate_sharpness).parameters) <= 15


@pytest.mark.parametrize("jacobian", ["gd", "update"])
def test_a_users_own_update_map_gives_the_planted_closed_form(jacobian):
    p = _planted()
    est = estimate_sharpness(p.model(), p.loss_fn, p.data, batch_size=p.n, n_batches=1,
                             seed=0, optimizer=PlainSGD(LR), jacobian=jacobian)
    closed = np.sort(np.log(np.abs(1 - LR * ALPHA)))[::-1]
    # eigvalsh of a 5×5 Hessian formed from products: eigenvalue error ≤ 5·eps·‖ηH‖ ≈ 2.5e-15
    # (Higham §3.5; ‖ηH‖ = 2.25), divided by min|1 − ηα| = 0.25 in the logarithm: ≤ 1e-14;
    # 1e-13 leaves a factor 10 for the planted design's own rounding
    np.testing.assert_allclose(est.sharpness, closed, rtol=0, atol=1e-13)
    assert est.diagnostics.optimizer == "PlainSGD"
    assert isinstance(PlainSGD(LR), UpdateMap)


def test_a_users_two_block_map_takes_its_flat_state_and_gives_the_block_singular_values():
    p, beta = _planted(), 0.6
    model = p.model()
    theta = torch.cat([q.detach().flatten() for q in model.parameters()])
    state = torch.cat([theta, torch.zeros_like(theta)])
    est = estimate_sharpness(model, p.loss_fn, p.data, batch_size=p.n, n_batches=1, seed=0,
                             optimizer=OwnHeavyBall(LR, beta), jacobian="update",
                             optimizer_state=state)
    # in the Hessian's eigenbasis the step Jacobian is block diagonal, [[1 − ηα, −ηβ], [α, β]]
    blocks = [np.linalg.svd([[1 - LR * a, -LR * beta], [a, beta]], compute_uv=False)
              for a in ALPHA]
    closed = np.sort(np.log(np.concatenate(blocks)))[::-1]
    # singular values of the 10×10 autodiff Jacobian: error ≤ 10·eps·‖J‖ ≈ 1e-14 (‖J‖ < 5,
    # Higham §3.5), divided by the smallest σ ≈ 0.13 (block α = 4.5: σ₁σ₂ = |det| = β = 0.6,
    # σ₁ ≈ 4.7) in the logarithm: ≤ 1e-13; 1e-12 leaves a factor 10
    np.testing.assert_allclose(est.sharpness, closed, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"optimizer_state must be the flat state of "
                                         r"OwnHeavyBall \(2 blocks of 5: shape \(10,\)\)"):
        estimate_sharpness(model, p.loss_fn, p.data, batch_size=p.n, n_batches=1, seed=0,
                           optimizer=OwnHeavyBall(LR, beta), jacobian="update",
                           optimizer_state=theta)


def test_a_users_map_without_lr_is_refused_for_the_gd_jacobian():
    class NoLr(PlainSGD):
        def __init__(self):
            pass

    p = _planted()
    with pytest.raises(ValueError, match="jacobian='gd' needs the step size"):
        estimate_sharpness(p.model(), p.loss_fn, p.data, batch_size=p.n, optimizer=NoLr())


def test_an_object_that_is_not_an_update_map_is_a_type_error():
    p = _planted()
    with pytest.raises(TypeError, match="optimizer must be a name"):
        estimate_sharpness(p.model(), p.loss_fn, p.data, batch_size=p.n, optimizer=object())


def test_structural_constants_are_not_settings():
    with pytest.raises(TypeError):
        SGDUpdate(lr=0.1, n_blocks=3)
    assert SGDUpdate(lr=0.1).n_blocks == 1


@pytest.mark.parametrize("moved, new", [
    (dict(n_steps=4, epsilon_form="additive"),
     dict(options=EstimateOptions(n_steps=4, epsilon_form="additive"))),
    (dict(weight_decay=0.01), dict(optimizer=make_update_map("sgd", lr=LR, weight_decay=0.01))),
    (dict(dtype=torch.float32), dict(options=EstimateOptions(dtype=torch.float32))),
])
def test_a_moved_keyword_warns_with_the_new_spelling_and_gives_the_same_estimate(moved, new):
    p = _planted()
    base = dict(batch_size=p.n, n_batches=2, seed=1, method="slq")
    with pytest.warns(DeprecationWarning, match="moved and will be removed in the next release"):
        old = estimate_sharpness(p.model(), p.loss_fn, p.data, lr=LR, **base, **moved)
    lr = {} if "optimizer" in new else {"lr": LR}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        now = estimate_sharpness(p.model(), p.loss_fn, p.data, **lr, **base, **new)
    np.testing.assert_array_equal(old.measure.nodes, now.measure.nodes)
    np.testing.assert_array_equal(old.measure.weights, now.measure.weights)


def test_a_moved_keyword_at_its_default_cannot_hide_behind_options():
    """Before: ``epsilon_form="clamp"`` (the default) with ``options`` holding "additive" was
    silently read as "additive". Now the keyword and options disagree, which is an error."""
    p = _planted()
    with pytest.raises(ValueError, match="epsilon_form is given twice with different values"), \
            pytest.warns(DeprecationWarning):
        estimate_sharpness(p.model(), p.loss_fn, p.data, lr=LR, batch_size=p.n,
                           method="slq", epsilon_form="clamp",
                           options=EstimateOptions(epsilon_form="additive"))


def test_a_moved_hyperparameter_that_disagrees_with_the_update_map_is_an_error():
    p = _planted()
    with pytest.raises(ValueError, match="weight_decay is given twice"), \
            pytest.warns(DeprecationWarning):
        estimate_sharpness(p.model(), p.loss_fn, p.data, batch_size=p.n, weight_decay=0.1,
                           optimizer=make_update_map("sgd", lr=LR, weight_decay=0.01))


def test_options_of_the_wrong_type_is_a_type_error():
    p = _planted()
    with pytest.raises(TypeError, match="options must be an EstimateOptions, got dict"):
        estimate_sharpness(p.model(), p.loss_fn, p.data, lr=LR, batch_size=p.n,
                           options={"n_steps": 4})


def test_the_public_names_of_the_new_spelling_are_exported():
    assert sharpdim.EstimateOptions is EstimateOptions
    assert sharpdim.make_update_map is make_update_map
