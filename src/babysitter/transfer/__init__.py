"""Transfer learning (CS231n, "Transfer learning with CNNs"): freeze by depth, a new head,
per-group learning rates, the strategies and the lecture's 2x2 table with measured similarity,
and pretraining (supervised, autoencoder, an auxiliary shift task)."""

from babysitter.transfer.freeze import (
    block_names,
    blocks,
    freeze_first,
    frozen_blocks,
    param_groups,
    replace_head,
    set_frozen,
)
from babysitter.transfer.pretrain import PRETRAIN, pretrain
from babysitter.transfer.probe import stage_features, stage_probe
from babysitter.transfer.run import transfer
from babysitter.transfer.strategy import (
    STRATEGIES,
    Unfreeze,
    apply_strategy,
    choose,
    feature_distance,
    features,
    similarity,
)

__all__ = ["blocks", "block_names", "freeze_first", "set_frozen", "frozen_blocks", "replace_head", "param_groups",
           "STRATEGIES", "apply_strategy", "choose", "similarity", "feature_distance", "features", "Unfreeze",
           "PRETRAIN", "pretrain", "transfer", "stage_features", "stage_probe"]
