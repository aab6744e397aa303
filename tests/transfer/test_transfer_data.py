"""The generic data options a transfer target needs: ``classes`` (relabelled) and ``per_class``."""

import numpy as np
import pytest

from babysitter.data import load_data
from babysitter.data.sources import digits
from babysitter.errors import BadInput
from babysitter.spec import load_spec


def test_classes_are_kept_and_relabelled_in_the_given_order():
    spec = load_spec({"data": {"source": "digits", "val_fraction": 0.0, "preprocess": [],
                               "options": {"classes": [7, 2, 9]}}})
    data = load_data(spec.data, 0)
    x_train, y_train, x_test, y_test = digits(None)
    for x, y, xs, ys in ((data.x_train, data.y_train, x_train, y_train), (data.x_test, data.y_test, x_test, y_test)):
        keep = np.isin(ys, [7, 2, 9])
        assert len(y) == keep.sum() and data.num_classes == 3
        # same examples (as a multiset of (pixel sum, new label)) with 7 -> 0, 2 -> 1, 9 -> 2
        relabel = np.select([ys[keep] == 7, ys[keep] == 2], [0, 1], 2)
        ours = sorted(zip(x.numpy().reshape(len(x), -1).sum(1).round(4), y.tolist()))
        theirs = sorted(zip(xs[keep].reshape(keep.sum(), -1).sum(1).round(4), relabel.tolist()))
        assert ours == theirs


def test_per_class_keeps_the_first_n_of_each_class_after_the_validation_split():
    full = load_data(load_spec({"data": {"source": "digits", "preprocess": []}}).data, 0)
    few = load_data(load_spec({"data": {"source": "digits", "preprocess": [], "options": {"per_class": 4}}}).data, 0)
    assert np.bincount(few.y_train.numpy()).tolist() == [4] * 10
    assert (few.x_val == full.x_val).all() and len(few.x_test) == len(full.x_test)
    firsts = np.concatenate([np.flatnonzero(full.y_train.numpy() == c)[:4] for c in range(10)])
    assert (few.x_train == full.x_train[np.sort(firsts)]).all()


@pytest.mark.parametrize("options, says", [({"classes": [1]}, "at least 2 distinct"),
                                           ({"classes": [1, 1]}, "at least 2 distinct"),
                                           ({"classes": [1, 12]}, "no training example of class [12]"),
                                           ({"per_class": 0}, "integer >= 1"),
                                           ({"per_class": 1000}, "has only")])
def test_bad_options_are_bad_input(options, says):
    spec = load_spec({"data": {"source": "digits", "options": options}})
    with pytest.raises(BadInput, match=r"data.options") as e:
        load_data(spec.data, 0)
    assert says in str(e.value)
