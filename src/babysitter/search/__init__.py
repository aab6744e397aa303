"""Hyperparameter search on Optuna: the space (space.py), the study (study.py), coarse -> fine (refine.py)."""

from babysitter.search.refine import narrow_space
from babysitter.search.space import Param, edge_warnings, load_space
from babysitter.search.study import search

__all__ = ["Param", "edge_warnings", "load_space", "narrow_space", "search"]
