"""Built-in estimators: conformance, agreement with the library they wrap, use of the prior."""

import numpy as np
import pytest
from scipy import ndimage

from ogmbench import registry
from ogmbench.api import FitData, Split
from ogmbench.baselines import classical
from ogmbench.generators import apply_noise, field
from ogmbench.generators.noise import NOISE_MODELS
from ogmbench.testing import parametrize_with_checks

# The learned estimators (this package imports torch) are checked on their quick profile
# in test_nets.py, which is skipped where torch is not installed.
TORCH_PACKAGE = "ogmbench.baselines.nets"


def registered_without_torch():
    """Every registered estimator outside the torch package, as it is checked here."""
    estimators = []
    for name, (ref, _) in sorted(registry.available().items()):
        if ref.partition(":")[0] == TORCH_PACKAGE:
            continue
        _, cls, _ = registry.load(name)
        # A learned estimator (an installed plugin, say) trains on its seconds-long profile.
        estimators.append(cls(profile="quick") if "profile" in cls.param_names() else cls)
    return estimators


@parametrize_with_checks(registered_without_torch())
def test_registered_estimator_passes_check(estimator, check):
    check(estimator)


def noisy_pair(rho, n=30, size=32, sigma="1.0/0.3", seed=0):
    rng = np.random.default_rng(seed)
    steps = [("gaussian", NOISE_MODELS["gaussian"].resolve({"sigma": sigma}, 2))]
    clean = np.stack([field(rng, rho, size, length_scale=2.0) for _ in range(n)])
    noisy = np.stack([apply_noise(rng, c, steps) for c in clean])
    return noisy, clean


def mse(est, clean):
    return float(np.mean((est - clean[:, 0]) ** 2))


def test_filters_equal_the_library_call_per_map():
    noisy, _ = noisy_pair(0.5, n=3)
    x = noisy[:, 0]
    med = classical.Median(size=5).predict(noisy, 0)
    gau = classical.Gaussian(sigma=1.5).predict(noisy, 0)
    for i in range(3):
        np.testing.assert_allclose(med[i], np.clip(ndimage.median_filter(x[i], size=5), 0, 1))
        np.testing.assert_allclose(gau[i], np.clip(ndimage.gaussian_filter(x[i], 1.5), 0, 1),
                                   atol=1e-6)
    np.testing.assert_array_equal(classical.Identity().predict(noisy, 1), np.clip(noisy[:, 1], 0, 1))


def test_guided_filter_matches_a_direct_implementation():
    # He et al. (2010), Algorithm 1, written out with explicit box sums for one map.
    noisy, _ = noisy_pair(0.9, n=1, size=16)
    p, guide, r, eps = noisy[0, 0].astype(float), noisy[0, 1].astype(float), 1, 0.1

    def box(a):
        padded = np.pad(a, r, mode="symmetric")
        return np.array([[padded[i:i + 2 * r + 1, j:j + 2 * r + 1].mean() for j in range(16)]
                         for i in range(16)])

    mean_i, mean_p = box(guide), box(p)
    a = (box(guide * p) - mean_i * mean_p) / (box(guide * guide) - mean_i**2 + eps)
    b = mean_p - a * mean_i
    expected = np.clip(box(a) * guide + box(b), 0, 1)
    np.testing.assert_allclose(classical.Guided(radius=r, eps=eps).predict(noisy, 0)[0], expected,
                               atol=1e-5)


@pytest.mark.parametrize("cls", [classical.Guided, classical.BayesCell])
def test_prior_estimators_gain_from_a_correlated_prior_only(cls):
    results = {}
    for rho in (0.0, 0.95):
        train, train_clean = noisy_pair(rho, n=40, seed=1)
        val, val_clean = noisy_pair(rho, n=10, seed=2)
        data = FitData(Split(train, train_clean), Split(val, val_clean))
        model = cls().fit(data, target=0)
        test, test_clean = noisy_pair(rho, n=20, seed=3)
        shuffled = test.copy()
        shuffled[:, 1] = test[::-1, 1]
        results[rho] = (mse(model.predict(test, 0), test_clean),
                        mse(model.predict(shuffled, 0), test_clean))
    # With rho = 0.95 the true prior beats a shuffled one clearly; with rho = 0 it does not.
    assert results[0.95][0] < 0.9 * results[0.95][1]
    assert results[0.0][0] > 0.95 * results[0.0][1]


def test_bayes_cell_recovers_a_known_posterior():
    # Target occupied with p = 0.3; noisy = clean + N(0, 0.5): posterior from Bayes' rule.
    rng = np.random.default_rng(0)
    clean = (rng.random((200, 1, 16, 16)) < 0.3).astype(np.uint8)
    noisy = (clean + rng.normal(0, 0.5, clean.shape)).astype(np.float32)
    model = classical.BayesCell(bins=32).fit(FitData(Split(noisy, clean), Split(noisy[:2], clean[:2])),
                                             target=0)
    x = np.array([-0.5, 0.0, 0.5, 1.0, 1.5], np.float32)
    like1 = np.exp(-((x - 1) ** 2) / (2 * 0.25))
    like0 = np.exp(-(x**2) / (2 * 0.25))
    exact = 0.3 * like1 / (0.3 * like1 + 0.7 * like0)
    est = model.predict(x.reshape(1, 1, 1, 5), 0)[0, 0]
    np.testing.assert_allclose(est, exact, atol=0.06)


def test_filters_reduce_noise():
    noisy, clean = noisy_pair(0.0, n=6, sigma="0.4")
    base = mse(classical.Identity().predict(noisy, 0), clean)
    for model, factor in ((classical.TV(weight=0.2), 0.5), (classical.Wiener(size=5), 0.9),
                          (classical.MRF(beta=0.5, lam=1.0, gamma=0.0), 0.5)):
        assert mse(model.predict(noisy, 0), clean) < factor * base, model
    # Morphology cleans the thresholded map, its natural starting point.
    thresholded = mse((noisy[:, 0] >= 0.5).astype(np.float32), clean)
    assert mse(classical.Morph(size=2).predict(noisy, 0), clean) < 0.8 * thresholded
