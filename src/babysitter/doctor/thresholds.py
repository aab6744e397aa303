"""Every threshold of the doctor, once, with its calibration note.

The probes (doctor/probes/), the in-run judges (doctor/readers/instruments.py), the
loss-curve reader (doctor/readers/curves.py) and the step budgets of ``check`` read these names; no other module
defines a threshold. "Healthy" ranges were measured on 17 short healthy runs (digits, mnist1d,
spirals; MLP, CNN, ResNet; SGD, momentum, Adam) and on the public clinic (clinic/healthy). A value
changed here changes every reader at once: rerun ``babysit clinic`` and record it in
clinic/scripts/CALIBRATION.txt.
"""

from __future__ import annotations

import math

# ---------------------------------------------------------------- budgets (in steps; seconds are a cap)
# check's monitored training runs the spec's own recipe for min(its total steps, MONITOR_STEPS) steps,
# whatever the machine's speed. 36 of the 41 public clinic specs train <= 400 steps in all, so they are
# read whole; batch-2 specs and long schedules are read over their first 400 steps (16 LossTrace
# windows at doctor.every 25: the curve shapes need >= 4 or >= 8; overfitting--cnn-small-mnist1d gets
# 40 of its 60 epochs). A CNN on MNIST-1D takes ~0.14 s a step on a 2-core box shared by five jobs.
MONITOR_STEPS = 400
# Seconds: only the cap that stops a runaway monitored run (a huge model or data set on a slow CPU);
# it is not meant to bind (400 steps of the clinic's largest CNN take ~60 s on that busy box, so a
# machine 3x slower still finishes within it). When it cuts a run, the report says ``stopped_by_time``
# and that the verdict rests on fewer steps.
TIME_CAP = 300.0
# check's experiments run at one CPU thread (unless the spec names a count): a matmul split over another
# number of threads sums in another order, and 400 steps can carry that last-bit difference across a
# threshold; one thread gives the same numbers on a 2-core laptop and a 64-core server.
CHECK_THREADS = 1

# a watched script's functional loss (F.cross_entropy, ...) is read on every LOSS_EVERY-th step (the Spy
# from the model's output to the step costs ~a forward's bookkeeping); its LossTrace windows are
# every / LOSS_EVERY readings long
LOSS_EVERY = 5

# ---------------------------------------------------------------- inputs
INPUT_STD_HIGH, INPUT_STD_LOW = 5.0, 0.2      # std over all entries outside: the scale is off (warning)
INPUT_OFFSET_WARN, INPUT_OFFSET_INFO = 2.0, 0.5  # |mean| / std above: an offset (warning / info: [0, 1] pixels)
IMBALANCE = 3.0            # largest / smallest class count above which accuracy stops being a fair summary

# ---------------------------------------------------------------- init (probes)
def init_loss_margin(num_classes: int) -> float:
    """m = 0.5 + 0.1 ln C (C = 10: 0.73). init_loss_off: warning above ln C + 3m (scores of std
    >~2.5, e.g. N(0, 1) weights), info above ln C + m (He init without a small last layer: ~1-1.5)."""
    return 0.5 + 0.1 * math.log(num_classes)


VANISHING_AT_INIT = 1e-3   # first-layer / last-layer gradient norm at init below this,
VANISHED_TOTAL = 1e-4      # or every gradient ~0 (the lecture's small init: activations -> 0, so dW -> 0)
EXPLODING_AT_INIT = 1e3    # total gradient norm at init above this (healthy nets: ~0.1..10 at init)
BN_MIN_BATCH = 8           # batch norm over fewer examples estimates its statistics from noise
TINY_EXAMPLES, TINY_STEPS = 20, 300   # overfit_tiny: examples, steps
GRADCHECK_WRONG = 1e-2     # max relative error above: the backward is wrong (float64: ~1e-7 when right)

# ---------------------------------------------------------------- in-run judges (instruments)
# healthy: update-ratio run median 7e-4 .. 1.4e-2, largest single-step median 0.047 (Adam 1e-2,
# linear); median first/last grad norm 0.14 .. 2.3; largest total grad norm 11; dead ReLU <= 0.02;
# tanh saturation <= 0.005; duplicate units 0.
UPDATE_LOW_WARN = 1e-5          # run median below: lr_too_low (warning)
UPDATE_LOW_INFO = 1e-4          # ... below: lr_too_low (info)
UPDATE_HIGH_PEAK = 0.1          # one due step's median above: lr_too_high (weights moved > 10 % in a step)
FIRST_STEP_PEAK = 1.0           # the first due step alone above UPDATE_HIGH_PEAK counts only beyond this (a
                                # first Adam step moves small weights ~lr/|w|; later steps settle)
UPDATE_HIGH_MEDIAN = 0.03       # run median above: lr_too_high
VANISHING_RATIO = 1e-3          # median first/last layer grad norm below: vanishing_gradients
COLLAPSE_RATIO = 1e-3           # some layer's activation std / the first's below: activations collapse
EXPLODING_RATIO = 1e2           # median first/last layer grad norm above: exploding_gradients
EXPLODING_NORM = 1e3            # a total grad norm above (healthy runs: <= 11): exploding_gradients
DEAD_WARN, DEAD_INFO = 0.4, 0.1             # fraction of ReLU units never active (healthy <= 0.02)
SATURATED_WARN, SATURATED_INFO = 0.5, 0.2   # tanh/sigmoid fraction saturated (healthy <= 0.005)
SYMMETRIC_ERROR, SYMMETRIC_WARN = 0.5, 0.1  # fraction of units with a duplicate weight vector (healthy 0)

# ---------------------------------------------------------------- loss curves (curves.py's docstring table)
EXPLODE_FACTOR = 2.0                 # healthy: max window mean <= 1.05 x initial; SGD lr 5: 2.7, Adam lr 0.5: 3.9
RISE_FACTOR, RISE_SHARE = 1.25, 0.1  # healthy: tail <= 1.04 x minimum; SGD lr 5: 1.6
EPOCHS_TO_OVERRULE, EPOCH_RISE = 3, 1.05
FLAT_DROP = 0.05
PLATEAU_BAND, PLATEAU_MIN_WINDOWS, PLATEAU_MIN_SHARE, PLATEAU_DROP = 0.10, 3, 0.15, 0.30
NOISE_CV, NOISE_PROGRESS = 0.1, 0.2  # healthy: up to 0.15 but then <= 0.08 of the drop; BN batch 2: 0.19 and 0.43
GAP_WARN, GAP_ALONE, VAL_RISE, MEMORIZED = 0.1, 0.25, 1.1, 0.99   # healthy gaps <= 0.04
VAL_RISE_ALONE, VAL_EPOCHS = 1.3, 3
UNDERFIT_ACC, UNDERFIT_GAP, PLATEAU_CHANGE = 0.8, 0.05, 0.02
DROP_STRONG = 0.8                    # a Dropout p (the share dropped) at or above this keeps <= 20 % of the units
REG_SHARE = 0.5                      # healthy default recipe: the penalty's share <= 0.33
MOVING_RATIO = 1e-4
NEVER_STEPPED = 10                   # backward() calls, no step, no change: a training loop whose update is left out

# ---------------------------------------------------------------- sequence targets (language models; the LM clinic)
# A character-level LM's loss is judged against its own data: the unigram cross entropy H(y) (the
# label frequencies alone), never a fixed accuracy. Healthy LM scripts of the clinic end at 0.55-0.85
# H(y) within their budgets; targets shuffled against their inputs plateau at 0.97-1.0 H(y).
UNIGRAM_SHARE = 0.95        # a train loss still >= this x H(y) learnt nothing beyond the label frequencies
LEARNT_SHARE = 0.5          # ... after falling >= this share of the way from its first loss to H(y): labels_look_random
SEQUENCE_MEMORISED = 0.2    # overfit_tiny on sequences: the loss below this x its first value (100% is unreachable
                            # when one context is followed by different tokens). Healthy LM clinic scripts reach
                            # 0.002-0.009 x in the probe's 300 steps; a GPT at AdamW lr 0.1 stalls at 0.5 x
                            # (it learnt the unigram frequencies), one at lr 1e-6 at 0.99 x
SEQUENCE_MARGIN = 0.03      # next-token targets: held-out accuracy within this of the majority-token chance
CLIPPED = 0.99              # a step whose gradient norm is within 1% of the run's cap was clipped
