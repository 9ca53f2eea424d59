"""The torch Dataset adapter."""

import pickle

import numpy as np
import pytest

import ogmbench

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("t") / "s.zarr", family="field",
                             noise="flip", rho=[0.0, 0.8], samples_per_rho=10, size=16)


@pytest.mark.parametrize("in_memory", [False, True])
def test_items_match_the_store(store, in_memory):
    ds = ogmbench.TorchDataset(store.path, split="train", in_memory=in_memory)
    index = store.indices("train")
    assert len(ds) == len(index) == 14
    for item in (0, 5, -1):
        noisy, clean, rho = ds[item]
        assert noisy.dtype == torch.float32 and clean.dtype == torch.float32
        assert noisy.shape == clean.shape == (2, 16, 16)
        np.testing.assert_array_equal(noisy.numpy(), store.noisy[index[item]])
        np.testing.assert_array_equal(clean.numpy(), store.clean[index[item]])
        assert float(rho) == pytest.approx(store.rho[index[item]])
    with pytest.raises(IndexError):
        ds[14]


def test_dataloader_with_workers_and_pickling(store):
    ds = ogmbench.TorchDataset(store, split="test")
    clone = pickle.loads(pickle.dumps(ds))
    assert len(clone) == len(ds) == 4
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)
    noisy = torch.cat([batch[0] for batch in loader])
    np.testing.assert_array_equal(noisy.numpy(), store.noisy[store.indices("test")])
