"""`jaxsae.sae._memory`: a run that cannot fit is refused before anything is allocated."""
import pytest

from jaxsae.errors import ConfigError
from jaxsae.sae import check_fits, estimate_bytes


def test_estimate_counts_parameters_adam_and_batch_latents() -> None:
    # tied, shared, d=20, h=22, batch 256: params 20*22 + 22 + 20 = 482; x4 (param, grad, 2 moments) floats,
    # plus 2 x (2 x 256 x 22) batch latents, plus 10 evaluation rows x 22
    want = 4 * (4 * 482 + 2 * 2 * 256 * 22 + 10 * 22)
    assert estimate_bytes(20, 22, 256, n_eval_rows=10) == want
    assert estimate_bytes(20, 22, 256, tied=False, shared=False) == 4 * (4 * 2 * (2 * 20 * 22 + 22 + 20) + 2 * 2 * 256 * 22)


def test_a_run_that_cannot_fit_is_one_line() -> None:
    check_fits(20, 22, 256, available=2**30)
    with pytest.raises(ConfigError, match=r"100,000,000 latents on 20-dim inputs .* needs at least .* GiB but 1.0 GiB"):
        check_fits(20, 100_000_000, 256, available=2**30)
