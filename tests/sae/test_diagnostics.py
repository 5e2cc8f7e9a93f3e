"""L0, dead fraction and FVU on hand-computed examples (defined once in jaxsae.sae.diagnostics)."""
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsae.sae import diagnostics


def test_l0_fired_dead_fraction():
    z = jnp.asarray([[0.0, 1.0, 0.0, 2.0], [0.5, 0.0, 0.0, 0.1], [0.0, 0.0, 0.0, 0.0]])
    assert float(diagnostics.l0(z)) == pytest.approx((2 + 2 + 0) / 3)
    np.testing.assert_array_equal(diagnostics.fired(z), [True, True, False, True])
    assert float(diagnostics.dead_fraction(diagnostics.fired(z))) == 0.25
    assert float(diagnostics.dead_fraction(jnp.ones((1, 22), bool))) == 0.0


def test_fvu_hand_computed():
    x = jnp.asarray([[1.0, 0.0], [3.0, 2.0]])  # mean row (2, 1): total variance 1 + 1 + 1 + 1 = 4
    x_hat = jnp.asarray([[1.0, 1.0], [3.0, 2.0]])  # squared error 1
    assert float(diagnostics.fvu(x, x_hat)) == 0.25
    assert float(diagnostics.fvu(x, x)) == 0.0
    assert float(diagnostics.fvu(x, jnp.broadcast_to(x.mean(0), x.shape))) == 1.0
    sse, sst = diagnostics.fvu_sums(x, x_hat, mean=jnp.zeros((1, 2)))
    assert (float(sse), float(sst)) == (1.0, 14.0)
