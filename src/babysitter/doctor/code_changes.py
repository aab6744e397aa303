"""The code-change half of the remedy table (:mod:`babysitter.doctor.remedies`): what to change in a user's
own script for each finding (:data:`CODE`, chosen from the facts by :func:`code_change`), and the text
for a spec finding that no spec key reaches (:data:`NO_EDIT`)."""

from __future__ import annotations

from babysitter.doctor.spec_edits import new_lr

# What to change in a user's own code; also the text for a spec finding that no spec key reaches.
CODE = {
    "data_not_normalized": "standardize the inputs: x = (x - mean) / std with the training set's mean and std "
                           "(e.g. transforms.Normalize(mean, std), or StandardScaler fitted on train)",
    "init_loss_off": "scale the last layer's initial weights down (e.g. nn.init.normal_(last.weight, std=1e-2); "
                     "nn.init.zeros_(last.bias)), or use nn.init.kaiming_normal_ for ReLU layers",
    "vanishing_gradients": "initialise with nn.init.kaiming_normal_ (ReLU) or nn.init.xavier_normal_ (tanh), "
                           "add nn.BatchNorm1d/2d after the layers, or use ReLU instead of sigmoid/tanh",
    "exploding_gradients": "initialise with nn.init.kaiming_normal_ (ReLU) or nn.init.xavier_normal_ (tanh), "
                           "or add nn.BatchNorm1d/2d after the layers; clip: "
                           "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) before optimizer.step()",
    "dead_relu": "do not shift the biases negative (nn.init.zeros_(layer.bias)); nn.init.kaiming_normal_; "
                 "nn.LeakyReLU instead of nn.ReLU",
    "saturated_units": "nn.init.xavier_normal_ for tanh/sigmoid layers; add batch norm; or use ReLU",
    "bad_init_plateau": "initialise with nn.init.kaiming_normal_ (ReLU) or xavier_normal_ (tanh); add batch norm",
    "symmetric_weights": "do not initialise the weights to a constant: nn.init.kaiming_normal_ (break the symmetry)",
    "cannot_overfit_tiny": "the model cannot memorise 20 examples: check the lr (see lr_range), the loss's "
                           "inputs, and that the optimizer holds the model's parameters",
    "overfitting": "regularise: weight_decay=1e-4 in the optimizer, nn.Dropout(0.5), more data or augmentation, "
                   "or stop earlier",
    "underfitting": "a bigger model (wider/deeper layers) or train longer; less regularisation",
    "reg_too_strong": "lower weight_decay / the penalty 10x",
    "reg_does_not_raise_loss": "build the model from nn.Linear / nn.Conv layers, or add your own penalty term; "
                               "weight decay acts on every parameter",
    "noisy_loss": "a larger batch (DataLoader(batch_size=...) x4) or a lower lr",
    "gradient_check_failed": "a custom layer's backward (or a non-differentiable op) is wrong; check the layer named here",
    "class_imbalance": "read per-class accuracy, not only the overall one; more data for the small classes, "
                       "or a class-balanced subset",
    "unshuffled_data": "shuffle the training data every epoch: DataLoader(..., shuffle=True), "
                       "or index with torch.randperm(N) each epoch",
    "labels_look_random": "the labels do not follow the inputs: check that x and y are indexed/shuffled together "
                          "(one permutation for both, or a TensorDataset), and the label column",
    "grad_not_zeroed": "call optimizer.zero_grad() once per step, before loss.backward() (or after optimizer.step())",
    "eval_mode_training": "call model.train() before the training loop (and again after every validation pass "
                          "that called model.eval())",
    "no_gradient_flow": "backpropagate the loss tensor itself: no .item(), .detach(), .numpy() or torch.tensor(loss) "
                        "between the model's output and loss.backward()",
    "parameters_not_updated": "build the optimizer over all trained parameters: torch.optim.X(model.parameters(), ...) "
                              "after the model is final; check the optimizer's lr (> 0)",
    "missing_activation": "put a non-linearity between the layers (nn.ReLU() in the nn.Sequential, or F.relu in forward)",
    "softmax_before_loss": "remove the softmax before the loss: nn.CrossEntropyLoss / F.cross_entropy take raw "
                           "scores (logits) and apply log_softmax themselves",
    "no_training_seen": "train inside the watched script (torch.optim optimizers and hand-written updates after "
                        "loss.backward() are followed); a model trained in a subprocess, or with torch.autograd.grad "
                        "and no update, is not seen",
    "probe_failed": "nothing to change in the script; the verdict lacks this experiment's evidence",
    "loss_not_finite": "check the model's forward pass and the input data for overflow (log of <= 0, division "
                       "by ~0, unscaled targets)",
}
SOFTMAX = {("cross_entropy", "log_probabilities"): "remove the log_softmax before the loss (cross entropy applies it "
           "itself), or keep it and use nn.NLLLoss / F.nll_loss",
           ("nll_loss", "probabilities"): "NLL takes log-probabilities: use log_softmax instead of softmax "
           "(or feed the raw scores to nn.CrossEntropyLoss)",
           ("nll_loss", "scores"): "NLL takes log-probabilities: apply log_softmax(dim=1) first, or use "
           "nn.CrossEntropyLoss on the raw scores",
           ("binary_cross_entropy_with_logits", "probabilities"): "remove the sigmoid before the loss: "
           "nn.BCEWithLogitsLoss / F.binary_cross_entropy_with_logits apply it themselves (or keep it and use "
           "nn.BCELoss)"}
# F.softmax without dim (torch picks dim 0: the batch, or a size-1 axis where every output is exactly 1),
# or values in [0, 1] normalised over another axis
NO_DIM = ("give the softmax its dim and keep it out of the loss: F.softmax(x, dim=-1) for sampling only, and pass "
          "the raw logits to nn.CrossEntropyLoss / F.cross_entropy (it applies log_softmax itself)")
for _loss in ("cross_entropy", "nll_loss"):
    SOFTMAX[(_loss, "unit_interval")] = SOFTMAX[(_loss, "softmax_no_dim")] = NO_DIM
# A spec finding whose fault no spec key reaches (a python model's own code, a value already at its remedy)
NO_EDIT = {
    "data_not_normalized": "the inputs are off after preprocessing; check data.preprocess and the raw data's units",
    "init_loss_off": "the untrained model beats chance: pretrained weights, a label leak into the inputs, or "
                     "biases set to the class priors",
    "reg_does_not_raise_loss": "the penalized weights are ~zero at init (model.init: zeros?); the penalty acts once "
                               "they move",
    "cannot_overfit_tiny": "the lr is inside the range test's band: check model capacity (model.hidden), the labels "
                           "and the loss",
}


def _lr_code(f, host, lower: bool) -> str:
    lr = f.facts.get("lr", host.lr)
    if lr is None:
        return ("lower" if lower else "raise") + " the learning rate 10x"
    new = new_lr(lr, lower, (f.facts.get("suggested"),), f.facts.get("factor"))
    opt = f.facts.get("optimizer", host.optimizer)   # a GAN's other optimizer names its own
    return f"{'lower' if lower else 'raise'} the learning rate: torch.optim.{opt}(..., lr={lr:g}) -> lr={new:g}"


def code_change(f, host) -> str:
    """The code change for ``f`` in a user's own script, chosen from its facts; ``host``: a
    :class:`~babysitter.doctor.remedies.ScriptHost` (``optimizer``, ``lr``)."""
    if f.id in ("lr_too_high", "lr_too_low"):
        return _lr_code(f, host, lower=f.id == "lr_too_high")
    origin = f.facts.get("origin") or {}
    if f.id == "loss_not_finite" and origin.get("input_nonfinite"):   # NaN/Inf came in with the data
        return ("the data holds non-finite values: check the inputs and targets for NaN/Inf before training "
                f"(first seen entering {origin.get('module') or origin.get('op') or 'the model'})")
    if f.id == "loss_not_finite" and "lr_too_high" in f.causes and host.lr is not None:   # diverged at a high lr
        return (_lr_code(f, host, lower=True) + " and clip: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) "
                "before optimizer.step()")
    if f.id == "loss_not_finite" and origin.get("op") and origin.get("pass") == "forward":
        return (f"{origin['op']} in {origin.get('module') or 'the forward pass'} produced the first non-finite value: "
                "guard its input (e.g. log(x.clamp_min(1e-8)), a division by x + eps) or scale the targets")
    if f.id == "loss_not_finite" and not f.facts.get("at_init") and host.lr is not None:
        return (_lr_code(f, host, lower=True) + " and clip: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) "
                "before optimizer.step()")
    if f.id == "dead_relu" and host.lr is not None and not f.facts.get("at_init"):
        return f"{_lr_code(f, host, lower=True)}; nn.LeakyReLU instead of nn.ReLU; nn.init.kaiming_normal_"
    if f.id == "init_loss_off" and f.facts.get("below_chance"):
        return NO_EDIT["init_loss_off"]
    if f.id == "probe_failed" and f.facts.get("reason") == "budget":
        return "a larger --budget (seconds for the probes), or fewer steps in the script"
    if f.id == "exploding_gradients" and f.facts.get("max_norm_before_clip") is not None:   # clipping hid it
        return ("clipping hides the explosion from the step, not its cause: lower the lr 10x; "
                "nn.init.kaiming_normal_ / xavier_normal_ init; add normalisation layers")
    if f.id == "parameters_not_updated":
        return _not_updated_code(f)
    if f.id == "reg_too_strong" and f.facts.get("dropout"):
        p = f.facts["dropout"]
        return f"nn.Dropout(p={p:g}) -> nn.Dropout(p={1 - p:.2g}) if {p:g} was meant as the share kept; p <= 0.5 in hidden layers"
    if f.id == "no_gradient_flow" and f.facts.get("zeroed_before_step"):
        return "call optimizer.zero_grad() before loss.backward() (or after optimizer.step()), never between them"
    if f.id == "labels_look_random" and f.facts.get("broadcast"):
        return ("give the loss an output and a target of one shape: loss_fn(output.squeeze(-1), target), or "
                "loss_fn(output, target.unsqueeze(-1))")
    if f.id == "labels_look_random" and f.facts.get("sequence_targets"):
        return ("the targets do not follow the inputs: check that x and y are sliced/shuffled together (one index "
                "for both; y = the next tokens of the same x)")
    if f.id == "softmax_before_loss":
        return SOFTMAX.get((f.facts.get("loss"), f.facts.get("input")), CODE["softmax_before_loss"])
    return CODE.get(f.id, "")


def _not_updated_code(f) -> str:
    """parameters_not_updated: in no optimizer (the default), a second model no optimizer steps (a GAN's
    generator), a frozen model (``trainable``: a host that builds the optimizer from what requires grad),
    parameters that never change, or a loop that never steps."""
    if f.facts.get("never_stepped"):
        return "call optimizer.step() after loss.backward() in every step (or update the parameters yourself)"
    if f.facts.get("models"):
        return "build each model's optimizer over its own parameters: torch.optim.X(that_model.parameters(), ...)"
    if "trainable" in f.facts:
        return ("unfreeze what should train (model.requires_grad_(True), or the layers to fine-tune) before the "
                "optimizer is built: the Trainer builds it from the parameters that require grad")
    if f.facts.get("unchanged"):
        return "check the optimizer's lr (> 0) and that it steps the model's own parameters (not a copy's)"
    return CODE["parameters_not_updated"]
