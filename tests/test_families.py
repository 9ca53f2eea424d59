"""Scene families: shapes, dtypes, determinism, and correlation against independent references."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

from ogmbench.generators import FAMILIES, ParamError, class_correlation, field


def pooled_phi(maps):
    """Phi between classes 0 and 1 over all cells of all samples (maps: N, C, H, W)."""
    a = maps[:, 0].ravel().astype(float)
    b = maps[:, 1].ravel().astype(float)
    return np.corrcoef(a, b)[0, 1]


def reference_phi(rho, pa, pb):
    # Independent of the package: orthant probability from scipy's bivariate normal CDF.
    ta, tb = norm.ppf(1 - pa), norm.ppf(1 - pb)
    p11 = multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf([-ta, -tb])
    return (p11 - pa * pb) / np.sqrt(pa * (1 - pa) * pb * (1 - pb))


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("rho", [-1.0, -0.3, 0.0, 0.6, 1.0])
def test_family_shape_dtype_values_determinism(name, rho):
    func = FAMILIES[name].func
    a = func(np.random.default_rng(7), rho, (24, 40))
    b = func(np.random.default_rng(7), rho, (24, 40))
    assert a.dtype == np.uint8 and a.shape == (2, 24, 40)
    assert set(np.unique(a)) <= {0, 1}
    np.testing.assert_array_equal(a, b)
    c = func(np.random.default_rng(8), rho, (24, 40))
    assert not np.array_equal(a, c)


def test_arcsin_law_matches_scipy_reference():
    # The closed form quoted in the issue, checked against the orthant reference.
    for rho in (-0.9, -0.2, 0.0, 0.4, 0.95):
        assert reference_phi(rho, 0.5, 0.5) == pytest.approx(2 / np.pi * np.arcsin(rho), abs=1e-6)


@pytest.mark.parametrize("occupancy", [(0.5, 0.5), (0.3, 0.6)])
@pytest.mark.parametrize("rho", [-0.8, -0.4, 0.0, 0.5, 0.9])
def test_field_pooled_phi_matches_closed_form(rho, occupancy):
    # length_scale 1 on 64x64: ~300 independent blobs per map; 160 maps put the
    # standard error of the pooled phi near 0.004, so 0.02 is a 5-sigma band.
    rng = np.random.default_rng(12345)
    maps = np.stack([field(rng, rho, 64, length_scale=1.0, occupancy=occupancy)
                     for _ in range(160)])
    assert pooled_phi(maps) == pytest.approx(reference_phi(rho, *occupancy), abs=0.02)
    assert maps[:, 0].mean() == pytest.approx(occupancy[0], abs=0.01)
    assert maps[:, 1].mean() == pytest.approx(occupancy[1], abs=0.01)


def test_field_extreme_rho_is_exact():
    rng = np.random.default_rng(0)
    same = field(rng, 1.0, 32, length_scale=2.0)
    np.testing.assert_array_equal(same[0], same[1])
    opposite = field(rng, -1.0, 32, length_scale=2.0)
    np.testing.assert_array_equal(opposite[0], 1 - opposite[1])


def test_field_many_classes_equicorrelated():
    rng = np.random.default_rng(3)
    maps = np.stack([field(rng, 0.6, 48, classes=4, length_scale=1.0) for _ in range(60)])
    assert maps.shape == (60, 4, 48, 48)
    pooled = class_correlation(maps.transpose(1, 0, 2, 3).reshape(4, -1, 48))
    expected = reference_phi(0.6, 0.5, 0.5)
    off_diagonal = pooled[~np.eye(4, dtype=bool)]
    np.testing.assert_allclose(off_diagonal, expected, atol=0.03)
    # The most negative equicorrelation for 4 classes is -1/3; below it is impossible.
    field(rng, -1 / 3, 16, classes=4)
    with pytest.raises(ParamError, match=r"rho must be in \[-0.3333, 1\]"):
        field(rng, -0.5, 16, classes=4)


def test_field_length_scale_controls_smoothness():
    rng = np.random.default_rng(1)

    def edge_fraction(ls):
        m = field(rng, 0.0, 64, length_scale=ls)[0]
        return np.mean(m[:, 1:] != m[:, :-1])

    assert edge_fraction(0.0) > 0.4  # white noise: neighbours independent
    assert edge_fraction(1.0) > edge_fraction(4.0) > edge_fraction(8.0)


@pytest.mark.parametrize("bad", [1.5, -1.01, np.nan])
def test_rho_out_of_range(bad):
    with pytest.raises(ParamError, match="rho must be in"):
        field(np.random.default_rng(0), bad, 16)


def test_class_correlation_matches_numpy_corrcoef():
    rng = np.random.default_rng(0)
    maps = (rng.random((3, 20, 20)) < [[[0.3]], [[0.5]], [[0.7]]]).astype(np.uint8)
    np.testing.assert_allclose(class_correlation(maps), np.corrcoef(maps.reshape(3, -1)),
                               atol=1e-12)
    constant = np.stack([np.ones((8, 8)), maps[0, :8, :8]]).astype(np.uint8)
    assert np.isnan(class_correlation(constant)[0, 1])


def test_field_declares_its_closed_form_phi_for_info():
    # What info prints is the family's declaration, read from parameters as a store
    # records them: one occupancy for every class, or a list of one per class.
    model = FAMILIES["field"]
    for occupancy, (pa, pb) in ((0.5, (0.5, 0.5)), ([0.3, 0.6, 0.5], (0.3, 0.6))):
        params = {"length_scale": 4.0, "occupancy": occupancy}
        got = model.expected_phi(0.4, params, 3)
        assert got == pytest.approx(reference_phi(0.4, pa, pb), abs=1e-6)
    # Frame to frame: a latent correlation exp(-dt/tau) exp(-d^2 / 4 s^2), per class.
    sequence = {"dt": 0.5, "noise_memory": 0.0, "drift_y": 0.0, "drift_x": 2.0, "tau": 4.0}
    latent = np.exp(-0.5 / 4.0) * np.exp(-1.0 / (4 * 16.0))
    got = model.expected_temporal_phi({"length_scale": 4.0, "occupancy": [0.5, 0.3]},
                                      sequence, 2)
    assert got == pytest.approx([reference_phi(latent, 0.5, 0.5),
                                 reference_phi(latent, 0.3, 0.3)], abs=1e-6)
    assert FAMILIES["urban"].expected_phi is None  # no closed form: info prints none
