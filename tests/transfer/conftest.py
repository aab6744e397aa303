import numpy as np
import pytest
import torch

SOURCE_MODEL = {"hidden": [8, 16], "convs": 1, "head": "gap"}


@pytest.fixture
def source_model() -> dict:
    """The source runs' model section (targets use the same architecture)."""
    return dict(SOURCE_MODEL)


@pytest.fixture(scope="session")
def mnist1d_source(tmp_path_factory):
    """A run dir: the small CNN (gap head) trained on all of MNIST-1D for 4 epochs (about 5 s)."""
    from babysitter.spec import load_spec
    from babysitter.transfer import pretrain

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("transfer") / "source"
    spec = load_spec({"data": {"source": "mnist1d"}, "model": SOURCE_MODEL, "train": {"epochs": 4}})
    final = pretrain(spec, out, "supervised", progress=False)
    torch.set_num_threads(threads)
    assert final["test_acc"] > 0.4  # well above chance (0.1): the features carry the task
    return out


@pytest.fixture(scope="session")
def digits_as_sequences(tmp_path_factory):
    """A different data set of a shape the gap CNN also takes: sklearn's digits as (N, 64) sequences."""
    from sklearn.datasets import load_digits

    d = load_digits()
    path = tmp_path_factory.mktemp("transfer") / "digits64.npz"
    np.savez(path, x=(d.data / 16).astype(np.float32), y=d.target)
    return path
