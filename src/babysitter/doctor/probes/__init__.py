"""The preflight experiments (CS231n, "Babysitting the learning process"), one per module, each on a
:class:`~babysitter.doctor.probes.kit.Kit` (a model to copy, an optimizer to rebuild, a loss, batches)
and returning ``(numbers, findings)``; :mod:`~babysitter.doctor.probes.runner` runs them in order.

==================  =================================================================================
probe (module)      measures (on copies of the model at init and the kit's batches)
==================  =================================================================================
input_scale         mean, std over all entries of the batches' inputs -> ``data_not_normalized``
                    (std > 5 or < 0.2, |mean| > 2 std); skipped for token ids and binary inputs
init_loss           the loss at init on the batches (train mode, no_grad) vs ln C -> ``init_loss_off``
init_gradients      per-layer gradient norms of one backward at init (the first batch) ->
                    vanishing/exploding_gradients, ``dead_relu`` (the last layer's gradient exactly 0)
overfit_tiny        20 examples, full batch, the kit's step at its lr, <= 300 steps -> train_acc
                    -> ``cannot_overfit_tiny``
lr_range            the range test (1e-6 .. 10 over 100 steps) over ``kit.seeds`` copies -> lr band,
                    lr_too_high / lr_too_low
labels              ``labels_look_random``: train a copy on the first batches, score it on later ones
                    (accuracy vs chance); ``unshuffled_data``: distinct labels per batch vs what
                    shuffled batches hold, ``C (1 - (1 - 1/C)^B)``
spec_probes         what only a spec has (the data set's statistics, batch norm on tiny batches, the
                    penalty at init, the gradient check) and the kit probes on a spec's
                    :class:`~babysitter.doctor.probes.spec_kit.SpecKit`: :func:`run_probes`
==================  =================================================================================
Class-based probes (init_loss vs ln C, overfit_tiny, labels, shuffling) run only for a cross-entropy
or NLL loss with integer targets; a regression (MSE, ...) gets the others, and no class finding.
"""
