"""The sampled ``field`` posterior (smooth fields), against references it does not compute.

At ``length_scale=0`` the exact per-cell posterior (``white_posterior``, itself checked
against numerical integration in test_bayes_optimal.py) is the reference; on smooth
fields, simulation-based calibration (the true state's rank among posterior draws is
uniform when the sampler targets the posterior) and the Bayes identity E[(p - x)^2] =
E[p (1 - p)] that only the true posterior satisfies.  Each check is shown to fail on a
sampler told the wrong rho.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from scipy import stats

pytest.importorskip("numba")

from ogmbench.generators import NOISE_MODELS, field  # noqa: E402
from ogmbench.generators._fields import equicorrelated_mixing  # noqa: E402
from ogmbench.generators._posterior import states, white_posterior  # noqa: E402
from ogmbench.generators._smooth_posterior import (Sampling, reduced_basis,  # noqa: E402
                                                   smooth_posterior)


def _loglik(noise, **params):
    return partial(NOISE_MODELS[noise].cell_loglik, **params)


def _noisy(clean, noise, params, seed):
    from ogmbench.generators import apply_noise

    steps = [(noise, NOISE_MODELS[noise].resolve(params, clean.shape[1]))]
    rng = np.random.default_rng(seed)
    return np.stack([apply_noise(rng, c, steps) for c in clean])


def _draw(rho, count, size, length_scale, occupancy, noise, params, seed):
    rng = np.random.default_rng(seed)
    clean = np.stack([field(rng, rho, size, classes=len(occupancy),
                            length_scale=length_scale, occupancy=occupancy)
                      for _ in range(count)])
    return clean, _noisy(clean, noise, params, seed + 1)


def test_the_basis_is_the_generator_s_covariance():
    # The generator smooths white noise by its spectrum; the basis must give the same
    # covariance: compare with the covariance of many drawn latents' FFT-smoothed cells.
    from ogmbench.generators._fields import smooth_unit_variance

    basis, cov = reduced_basis(16, 12, 2.0)
    impulse = np.zeros((16, 12))
    impulse[0, 0] = 1.0
    # The kernel applied twice is the covariance of cell (0, 0) with every other one.
    kernel = smooth_unit_variance(impulse, 2.0)
    exact = smooth_unit_variance(kernel[::-1, ::-1].copy(), 2.0)
    exact = np.roll(exact, (1, 1), axis=(0, 1))
    np.testing.assert_allclose(cov, exact, atol=1e-8)
    np.testing.assert_allclose(basis @ basis[0], cov.ravel(), atol=1e-12)


CASES = {
    # noise, its parameters, classes' occupancy, rho
    "gaussian, two classes": ("gaussian", {"sigma": [1.0, 0.3]}, (0.5, 0.5), 0.9),
    "correlated gaussian, thresholds off 0": ("gaussian", {"sigma": [0.8, 0.4], "kappa": 0.5},
                                              (0.3, 0.6), -0.5),
    "flips, three classes": ("flip", {"fp": [0.2, 0.05, 0.1], "fn": [0.2, 0.05, 0.1]},
                             (0.5, 0.5, 0.5), 0.4),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("prior", [True, False])
def test_on_white_fields_the_sampler_is_the_exact_posterior(case, prior):
    noise, params, occupancy, rho = CASES[case]
    _, noisy = _draw(rho, 2, 10, 0.0, occupancy, noise, params, seed=3)
    loglik = _loglik(noise, **NOISE_MODELS[noise].resolve(params, len(occupancy)))
    sampling = Sampling(chains=6, burn=10, draws=150)
    exact = white_posterior(noisy, np.full(2, rho), 0, occupancy, loglik, prior)

    def misfit(told):
        got = smooth_posterior(noisy, np.full(2, told), 0, occupancy, 0.0, loglik, prior,
                               sampling)
        return np.sqrt(np.mean((got.mean - exact) ** 2) / np.mean(got.error ** 2))

    # The differences are the Monte Carlo error's size (RMS ratio 1 for an exact sampler).
    assert 0.6 < misfit(rho) < 1.5
    if prior:  # told another rho, the sampler's posterior is another one
        assert misfit(0.0 if rho > 0 else 0.9) > 3.0


def _sbc_ranks(rho_told, rho=0.9, replicates=150, thin=5, draws=19):
    """Ranks of the true state's target count, log-likelihood and cells where the classes
    agree among ``draws`` thinned posterior draws, one chain per replicate, each replicate
    drawn from the model."""
    sigma = [1.0, 0.3]
    clean, noisy = _draw(rho, replicates, 8, 1.5, (0.5, 0.5), "gaussian",
                         {"sigma": sigma}, seed=11)
    loglik = _loglik("gaussian", sigma=sigma, kappa=0.0)
    sampling = Sampling(chains=1, burn=20, draws=draws * thin)
    traces = smooth_posterior(noisy, np.full(replicates, rho_told), 0, (0.5, 0.5), 1.5,
                              loglik, True, sampling).traces[:, 0]
    picked = traces[:, sampling.burn + thin - 1::thin]  # (replicates, draws, 5)
    table = loglik(noisy, states(2), [0, 1])  # (4, R, H, W)
    index = (clean[:, 0] * 2 + clean[:, 1]).astype(int)
    true_ll = np.take_along_axis(table, index[None], axis=0)[0].sum(axis=(1, 2))
    true_count = clean[:, 0].sum(axis=(1, 2))
    true_agree = (clean[:, 0] == clean[:, 1]).sum(axis=(1, 2))
    # The traces' log-likelihood is the table's sum over the chain's state: comparable.
    rng = np.random.default_rng(0)
    ranks = []
    for truth, column in ((true_count, 1), (true_ll, 0), (true_agree, 3)):
        values = picked[..., column]
        below = (values < truth[:, None] - 1e-9).sum(axis=1)
        ties = (np.abs(values - truth[:, None]) <= 1e-9).sum(axis=1)
        ranks.append(below + rng.integers(0, ties + 1))  # ties broken at random
    return ranks, draws


def _uniformity(ranks, draws, bins=5):
    """The chi-square p-value of ranks 0..draws being uniform."""
    counts = np.bincount(ranks * bins // (draws + 1), minlength=bins)
    return stats.chisquare(counts).pvalue


def test_simulation_based_calibration_of_the_smooth_posterior():
    ranks, draws = _sbc_ranks(0.9)
    assert min(_uniformity(r, draws) for r in ranks) > 0.001
    # The same check catches a sampler of another posterior (told rho 0).
    ranks, draws = _sbc_ranks(0.0)
    assert min(_uniformity(r, draws) for r in ranks) < 1e-6


@pytest.fixture(scope="module")
def smooth_draws():
    """Smooth 16x16 fields at rho 0.9 and 0 with the default profile's noise, and the
    sampled posterior with X2 and without."""
    sigma = [1.0, 0.3]
    loglik = _loglik("gaussian", sigma=sigma, kappa=0.0)
    out = {}
    for rho in (0.0, 0.9):
        clean, noisy = _draw(rho, 48, 16, 2.0, (0.5, 0.5), "gaussian", {"sigma": sigma},
                             seed=int(rho * 10) + 5)
        for prior in (True, False):
            out[rho, prior] = clean[:, 0], smooth_posterior(
                noisy, np.full(len(noisy), rho), 0, (0.5, 0.5), 2.0, loglik, prior,
                Sampling(chains=4, burn=20, draws=80))
    return out


@pytest.mark.parametrize("rho", [0.0, 0.9])
@pytest.mark.parametrize("prior", [True, False])
def test_the_sampled_posterior_s_error_is_its_own_variance(smooth_draws, rho, prior):
    # Only the true posterior p has E[(p - x)^2] = E[p (1 - p)] over the model's draws;
    # a Monte Carlo estimate with variance v per cell adds v to the first and takes it
    # from the second.
    clean, got = smooth_draws[rho, prior]
    variance = got.error ** 2
    per_sample = (((got.mean - clean) ** 2) - got.mean * (1 - got.mean)
                  - 2 * variance).mean(axis=(1, 2))
    assert abs(per_sample.mean()) < 4 * per_sample.std(ddof=1) / np.sqrt(len(per_sample))


def test_the_same_identity_catches_a_posterior_of_another_rho():
    sigma = [1.0, 0.3]
    loglik = _loglik("gaussian", sigma=sigma, kappa=0.0)
    # (Told rho 0 on fields of rho 0.9 it would be the posterior given X1 alone, which is
    # a true posterior too: told 0.9 on independent fields, it trusts X2 wrongly.)
    clean, noisy = _draw(0.0, 64, 16, 2.0, (0.5, 0.5), "gaussian", {"sigma": sigma}, seed=7)
    got = smooth_posterior(noisy, np.full(len(noisy), 0.9), 0, (0.5, 0.5), 2.0, loglik, True,
                           Sampling(chains=4, burn=20, draws=80))
    per_sample = (((got.mean - clean[:, 0]) ** 2) - got.mean * (1 - got.mean)
                  - 2 * got.error ** 2).mean(axis=(1, 2))
    assert per_sample.mean() > 4 * per_sample.std(ddof=1) / np.sqrt(len(per_sample))


def _mse(clean, got):
    return ((got.mean - clean) ** 2).mean(axis=(1, 2))


def test_reading_x2_never_costs_beyond_monte_carlo_error(smooth_draws):
    for rho in (0.0, 0.9):
        clean, with_x2 = smooth_draws[rho, True]
        _, without = smooth_draws[rho, False]
        diff = _mse(clean, with_x2) - _mse(clean, without)
        # Expected MSE of each estimate: the posterior's plus its Monte Carlo variance.
        bias = (with_x2.error ** 2 - without.error ** 2).mean(axis=(1, 2))
        corrected = diff - bias
        se = corrected.std(ddof=1) / np.sqrt(len(diff))
        assert corrected.mean() < 3 * se
        if rho == 0.9:  # and at high rho it is a large gain (the white fields': 40 %)
            assert -corrected.mean() > 0.1 * _mse(clean, without).mean()


def test_a_sample_s_estimate_does_not_depend_on_its_batch_or_threads():
    import numba

    sigma = [1.0, 0.3]
    loglik = _loglik("gaussian", sigma=sigma, kappa=0.0)
    _, noisy = _draw(0.6, 3, 12, 2.0, (0.5, 0.5), "gaussian", {"sigma": sigma}, seed=1)
    rho = np.array([0.6, 0.3, 0.6])
    sampling = Sampling(chains=2, burn=5, draws=10)
    whole = smooth_posterior(noisy, rho, 0, (0.5, 0.5), 2.0, loglik, True, sampling)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        alone = smooth_posterior(noisy[2:], rho[2:], 0, (0.5, 0.5), 2.0, loglik, True, sampling)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(whole.mean[2:], alone.mean)
    np.testing.assert_array_equal(whole.traces[2:], alone.traces)
    assert not np.array_equal(whole.mean[0], whole.mean[2])
