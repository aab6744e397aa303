import pytest

from tests.doctor.probes.cases import digits_data


@pytest.fixture(scope="module")
def digits():
    """The standardized digits data set of the digits MLP spec (tests/doctor/probes/cases.py)."""
    return digits_data()
