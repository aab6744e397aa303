"""What each finding id means and what fixes it, for people: ``babysit list --findings`` and
docs/findings.md print this table. The numbers and the advice of a concrete finding are written by
the readers and the remedies from what was measured; this is the one place for the words.

``MEANINGS[id] = (where it comes from, what it means, the usual remedy)``; ``where``: ``probe``
(the preflight experiments), ``instrument`` (hooks during training), ``curve`` (the loss and
accuracy curves) or ``code`` (a fault of a user's own loop: ``babysit watch``, the callbacks).
"""

from __future__ import annotations

from babysitter.doctor.findings import VOCABULARY

MEANINGS: dict[str, tuple[str, str, str]] = {
    "data_not_normalized": ("probe", "the inputs are far from zero mean / unit scale (e.g. raw 0-255 pixels)",
                            "data.preprocess: [standardize] (fitted on train only); in code: scale the inputs"),
    "init_loss_off": ("probe", "the loss at initialisation is far from ln C (the loss of uniform class scores; "
                      "per scored row for a reduction='sum' loss)",
                      "the init that fits the activation (model.init: he / xavier), then a smaller output layer "
                      "(model.head_init_scale: 0.1, 0.01, ...), then standardised inputs; below chance: check the "
                      "loss and labels"),
    "reg_does_not_raise_loss": ("probe", "adding the regularisation does not raise the loss at init: it is not applied "
                                "(e.g. parameters the penalty does not see)",
                                "make the penalty cover the weights (nn.Linear/Conv layers, or weight_decay in the "
                                "optimizer)"),
    "cannot_overfit_tiny": ("probe", "the model cannot reach ~100% training accuracy on 20 examples: a bug, or "
                            "a model or lr that cannot learn", "fix the causes ranked above it; check the lr, the "
                            "init and the loss"),
    "gradient_check_failed": ("probe", "autograd's gradient disagrees with centred differences in float64: a "
                              "hand-written backward is wrong", "fix the custom autograd.Function's backward "
                              "(babysit gradcheck SPEC)"),
    "lr_too_high": ("probe/instrument/curve", "the loss explodes or rises again, or the update/weight ratio is far "
                    "above the lecture's ~1e-3", "optim.lr: lower it (the lr range test's suggestion, often 10x)"),
    "lr_too_low": ("probe/instrument/curve", "the loss barely moves and the update/weight ratio is far below ~1e-3",
                   "optim.lr: raise it (the lr range test's suggestion)"),
    "loss_not_finite": ("instrument/curve", "the loss became NaN or inf; ``origin`` names the module and op where it "
                        "started, where known", "a lower lr and train.clip_norm: 1.0; look at the named op (log of "
                        "<= 0, division by 0, unscaled targets)"),
    "vanishing_gradients": ("instrument", "the first layer's gradient is orders of magnitude below the last's, or "
                            "the activations collapse with depth", "model.init: he (relu) or xavier (tanh); "
                            "model.norm: batch; relu instead of sigmoid/tanh"),
    "exploding_gradients": ("instrument", "non-finite or very large gradient norms (for a host that clips, the norm "
                            "before clipping)", "train.clip_norm: 1.0; a 10x lower lr; he/xavier init; batch norm"),
    "dead_relu": ("instrument", "a large fraction of a ReLU layer's units are never positive on recent batches",
                  "a lower lr; leaky_relu; he init; check for negative biases"),
    "saturated_units": ("instrument", "tanh/sigmoid units sit at +-1 (0/1), where their gradient is ~0",
                        "xavier init; batch norm; or relu"),
    "symmetric_weights": ("instrument", "units of a layer have identical weights (a constant init): they stay "
                          "identical forever", "a random init (model.init: he / xavier); never zeros"),
    "bad_init_plateau": ("curve", "the loss stays flat for many windows, then suddenly falls: the init delays "
                         "learning", "model.init: he / xavier; model.norm: batch"),
    "overfitting": ("curve", "training accuracy far above validation accuracy, or the validation loss rising while "
                    "the training loss falls", "regularize.l2 / optim.weight_decay, model.dropout, data.augment, "
                    "more data, or fewer epochs"),
    "underfitting": ("curve", "the training loss plateaus at a low training accuracy (train and val close)",
                     "a bigger model (model.hidden) or longer training; less regularisation"),
    "reg_too_strong": ("curve/instrument", "underfitting while the penalty is most of the objective",
                       "regularize.l2 / optim.weight_decay: 10x lower"),
    "noisy_loss": ("curve", "the loss jumps a lot from batch to batch relative to its fall",
                   "a larger train.batch_size or a lower lr"),
    "unshuffled_data": ("probe/code", "batches come in label order (sorted or class blocks): each step sees one "
                        "class", "shuffle: DataLoader(..., shuffle=True), or a random permutation each epoch"),
    "class_imbalance": ("probe", "a few classes hold most of the training examples",
                        "class weights in the loss, resampling, or a metric that accounts for it"),
    "grad_not_zeroed": ("code", "the optimizer steps on gradients summed over steps: zero_grad is missing",
                        "optimizer.zero_grad() once per step, before loss.backward()"),
    "softmax_before_loss": ("code", "a cross entropy / NLL loss receives probabilities, or log-probabilities twice",
                            "pass the raw scores (logits) to nn.CrossEntropyLoss; log_softmax only with NLLLoss"),
    "eval_mode_training": ("code", "the optimizer steps while dropout / batch-norm modules are in eval mode",
                           "model.train() before the training steps (after each validation pass)"),
    "labels_look_random": ("code", "the labels carry no signal the model can learn from its inputs (a copy "
                           "trained on the first batches scores chance on later ones)", "check that inputs and "
                           "labels stay aligned (one permutation, no off-by-one)"),
    "parameters_not_updated": ("code", "parameters that require and receive gradients are in no optimizer, or never "
                               "change; or the optimizer holds none of the model's parameters (a frozen model)",
                               "build the optimizer over model.parameters() after the model is final; unfreeze "
                               "what should train"),
    "no_gradient_flow": ("code", "the backpropagated loss has no path to the model's parameters (.item(), "
                         ".detach(), numpy in between)", "compute the loss from the model's output with torch ops"),
    "missing_activation": ("code", "consecutive linear/conv layers with no non-linearity between them: they "
                           "collapse into one linear map", "a non-linearity (nn.ReLU) between the layers"),
    "no_training_seen": ("code", "the doctor saw no optimizer step and no parameter update: it cannot judge, so "
                         "the run is not called healthy", "check that training ran inside the watch (and that "
                         "optimizer.step() is called)"),
    "probe_failed": ("probe", "a preflight experiment could not run on this model (the reason is in the finding); "
                     "the verdict lacks its evidence", "nothing to fix in the training; a larger --budget when the "
                     "reason is the time budget"),
}


def table() -> list[dict]:
    """The vocabulary in order: [{"id", "source", "meaning", "remedy"}]."""
    return [{"id": i, "source": MEANINGS[i][0], "meaning": MEANINGS[i][1], "remedy": MEANINGS[i][2]}
            for i in VOCABULARY]


def markdown() -> str:
    """docs/findings.md's table (tests/doctor/test_vocabulary.py checks the file holds it)."""
    rows = ["| id | from | means | remedy |", "|---|---|---|---|"]
    rows += [f"| `{r['id']}` | {r['source']} | {r['meaning']} | {r['remedy']} |" for r in table()]
    return "\n".join(rows) + "\n"
