"""The doctor's readers: evidence -> findings with facts, no advice text (the remedy table,
:mod:`babysitter.doctor.remedies`, writes the advice from the facts).

=============  ======================================================================================
module         reads
=============  ======================================================================================
instruments    the in-run instruments' summaries (update ratio, gradient norms, activations,
               symmetric weights, a non-finite loss): :func:`~babysitter.doctor.readers.instruments.findings`
curves         the loss curve's windows and the per-epoch rows (explodes, rises, flat, plateau,
               noisy, over/underfitting): :func:`~babysitter.doctor.readers.curves.classify`
baselines      what the data allows a curve judge to say (the unigram loss of sequence targets)
code_faults    what the hooks saw of a user's own loop (:class:`~babysitter.doctor.readers.code_faults.Evidence`)
=============  ======================================================================================
"""
