"""A per-cell histogram regressor on Gaussian-smoothed maps: how much does X2 add?

The yardstick quoted for the reference estimators.  For each rho of a store, fit
P(clean X1 | smoothed noisy X1) and P(clean X1 | smoothed noisy X1, smoothed noisy X2)
as histograms (32 quantile bins per input) on the train samples of that rho, and print
the test MSE of both and the gain from X2.  Note that it is fitted per rho, which the
benchmark's estimators are not.

    python docs/histogram_regressor.py data/demo.zarr
"""

import sys

import numpy as np
from scipy import ndimage

import ogmbench

BINS = 32


def split_arrays(store, split):
    index = store.indices(split)
    lo, hi = int(index[0]), int(index[-1]) + 1
    return store.noisy[lo:hi], store.clean[lo:hi], np.round(store.rho[index].astype(float), 6)


def cells(features, edges):
    index = np.zeros(features[0].size, dtype=np.int64)
    for f, e in zip(features, edges):
        index = index * BINS + np.searchsorted(e, f.ravel())
    return index


def fit_predict(train_features, target, test_features):
    qs = np.linspace(0, 1, BINS + 1)[1:-1]
    edges = [np.quantile(f, qs) for f in train_features]
    index = cells(train_features, edges)
    size = BINS ** len(train_features)
    occupied = np.bincount(index, target.ravel(), size)
    total = np.bincount(index, minlength=size)
    table = (occupied + target.mean()) / (total + 1)
    return table[cells(test_features, edges)].reshape(test_features[0].shape)


def main(path):
    store = ogmbench.open_store(path)
    (train_noisy, train_clean, train_rho) = split_arrays(store, "train")
    (test_noisy, test_clean, test_rho) = split_arrays(store, "test")
    print(f"{'sigma':>5} {'rho':>5} {'MSE no prior':>13} {'MSE with X2':>12} {'gain':>7}")
    for sigma in (1.5, 2.0, 3.0):
        smooth_train = ndimage.gaussian_filter(train_noisy, sigma=(0, 0, sigma, sigma))
        smooth_test = ndimage.gaussian_filter(test_noisy, sigma=(0, 0, sigma, sigma))
        for rho in np.unique(test_rho):
            tr, te = train_rho == rho, test_rho == rho
            y, y_test = train_clean[tr, 0], test_clean[te, 0]
            alone = fit_predict([smooth_train[tr, 0]], y, [smooth_test[te, 0]])
            both = fit_predict([smooth_train[tr, 0], smooth_train[tr, 1]], y,
                               [smooth_test[te, 0], smooth_test[te, 1]])
            m1, m2 = np.mean((alone - y_test) ** 2), np.mean((both - y_test) ** 2)
            print(f"{sigma:>5} {rho:>5} {m1:>13.4f} {m2:>12.4f} {100 * (m1 - m2) / m1:>6.1f}%")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/demo.zarr")
