"""The doctor on a user's own PyTorch code: ``with babysitter.watch() as doctor:``, ``babysit watch
SCRIPT`` (:mod:`~babysitter.doctor.watch.runner` runs the script as ``python`` would), the
Lightning and Hugging Face callbacks and the notebook magic (the public host API of
:class:`~babysitter.doctor.watch.host.Watch`: ``start``, ``before_optimizer_step``,
``after_optimizer_step``, ``close``).

========================  ===================================================================
module                    holds
========================  ===================================================================
host.py                   :class:`Watch`: lifecycle, the optimizer steps, the probes, the public host API
capture.py                the forward hooks, the losses and backward passes seen (a mixin of Watch)
spy.py                    the TorchFunctionMode that sees functional losses and the layer order
hand_updates.py           a loop with no optimizer object, followed like one
runner.py                 runs a script as ``python SCRIPT ARGS`` would (coverage.py's PyRunner)
report.py                 the verdict of a closed watch and its run dir
========================  ===================================================================
"""

from babysitter.doctor.watch.host import Watch, watch

__all__ = ["Watch", "watch"]
