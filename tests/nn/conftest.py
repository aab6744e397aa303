import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These tests push tiny tensors through many small ops: on a busy machine torch's worker
    threads cost far more than they save (100x measured on 2 loaded cores). Values do not
    depend on the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
