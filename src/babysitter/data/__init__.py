"""Data: sources (the registry), preprocessing fitted on train only, batched augmentation.

Only the light names are imported here; the sources import their heavy dependencies
(sklearn, mnist1d) when called.
"""

from babysitter.data.sources import SOURCES, Dataset, from_arrays, load_data

__all__ = ["Dataset", "load_data", "from_arrays", "SOURCES"]
