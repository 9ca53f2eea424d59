import sys, numpy as np
sys.path.insert(0, '/work/main')
from generators.families import field

SIGMA = np.array([1.0, 0.3])

def make_data(rng, rho, n, size=32, l=4.0, sigma=SIGMA, occ=0.5):
    clean = np.stack([field(rng, rho, size, length_scale=l, occupancy=occ) for _ in range(n)])
    noisy = clean + sigma[None, :, None, None] * rng.standard_normal(clean.shape)
    return clean.astype(float), noisy

def true_ll(clean, noisy, sigma=SIGMA, prior=True):
    a1 = (noisy[:, 0] - 0.5) / sigma[0]**2
    a2 = (noisy[:, 1] - 0.5) / sigma[1]**2
    ll = (a1 * clean[:, 0]).sum((1, 2))
    if prior: ll = ll + (a2 * clean[:, 1]).sum((1, 2))
    return ll
