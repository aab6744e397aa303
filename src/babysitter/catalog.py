"""The catalogue behind ``babysit list``: every technique, its spec key, formula and module.

Names come from the registries themselves, so a technique cannot be listed without existing;
a formula missing here fails the catalogue's test.
"""

from __future__ import annotations

FORMULAS = {
    "model.activation": {
        "sigmoid": "1 / (1 + e^-x)", "tanh": "tanh(x)", "relu": "max(0, x)",
        "leaky_relu": "max(0.01x, x)", "prelu": "max(a x, x), a learned", "elu": "x if x>0 else e^x - 1",
        "selu": "1.0507 * elu(x, 1.6733)", "maxout": "max(w1 x + b1, w2 x + b2)"},
    "model.init": {
        "zeros": "W = 0", "small": "N(0, 0.01^2)", "normal": "N(0, 1)", "xavier": "N(0, 1/fan_avg)",
        "xavier_uniform": "U(-r, r), r = sqrt(3/fan_avg)", "he": "N(0, 2/fan_in)", "lecun": "N(0, 1/fan_in)"},
    "model.kind": {
        "linear": "scores = W x + b", "mlp": "[fc -> bn -> act -> dropout] x L -> fc",
        "cnn": "[[conv3 -> bn -> act] x convs -> pool] x L -> flatten|gap -> fc", "resnet": "y = act(x + F(x)), 2 blocks/stage",
        "python": "your factory 'module:function' -> nn.Module"},
    "model.dropout_kind": {
        "inverted": "train x*m/(1-p), test x", "classic": "train x*m, test (1-p) x",
        "dropconnect": "train (W*M) x, test (1-p) W x"},
    "model.norm": {"none": "-", "batch": "y = g (x - mu_B) / sqrt(var_B + eps) + b"},
    "model.pool": {"max": "max over 2x2 windows", "fractional": "max over pseudo-random windows, size x 1/sqrt(2)"},
    "model.stochastic_depth": {"stochastic_depth": "p_l = 1 - l/L (1 - p_L)"},
    "optim.name": {
        "sgd": "x -= a g", "momentum": "v = m v + g; x -= a v", "nesterov": "v = m v + g; x -= a (g + m v)",
        "adagrad": "c += g^2; x -= a g / sqrt(c)", "rmsprop": "c = r c + (1-r) g^2; x -= a g / sqrt(c)",
        "adam": "x -= a m1^ / (sqrt(m2^) + eps)", "nadam": "adam + Nesterov look-ahead on m1",
        "adamax": "u = max(b2 u, |g|); x -= a m1^ / u", "lbfgs": "quasi-Newton, full batch, closure",
        "newton": "x -= a (H + damping I)^-1 g"},
    "schedule.name": {
        "constant": "a = a0", "step": "a = a0 gamma^floor(t/step_size)", "exponential": "a = a0 e^(-k t)",
        "inverse_time": "a = a0 / (1 + k t)", "cosine": "a = a0 (1 + cos(pi t/T)) / 2",
        "sgdr": "cosine restarted every cycle", "cyclic": "triangle a0/10 <-> a0",
        "onecycle": "warm-up to a0, cosine down"},
    "regularize": {"l1": "l1 sum|W|", "l2": "l2 sum W^2", "elastic_net": "l2 sum W^2 + l1 sum|W|",
                   "max_norm": "||w||_2 <= r per unit"},
    "train": {"clip_value": "g = clamp(g, -c, c)", "clip_norm": "g *= c / max(c, ||g||)",
              "label_smoothing": "targets (1-e) onehot + e/C",
              "ema": "EMA evaluation: e_t = d e_(t-1) + (1-d) w_t (weights + BN stats), eval on e",
              "tta": "f(x) = 1/V sum_v f(T_v x), views: flip, shift by +-S",
              "precision": "autocast bf16 / fp16 + loss scaling s L, grads / s",
              "threads": "argmin_c median step seconds at c threads, c in 1..granted"},
    "model.init_fit": {"whiten_first": "first conv W = diag(lambda + eps)^-1/2 V^T of the patch covariance, [W; -W]",
                       "dirac": "conv w[o, i, centre] = [o == i]: conv(x)[:, :C_in] = x"},
    "optim.norm_lr_scale": {"norm_lr_scale": "lr(gamma, beta of norm layers) = s lr"},
    "train.ensemble": {"independent": "p = mean_m softmax(f_m(x)), seeds differ",
                       "snapshot": "SGDR, a snapshot per cycle, softmax averaged",
                       "polyak": "w_ema = d w_ema + (1-d) w, BN stats recomputed"},
    "data.source": {"mnist1d": "4000/1000 sequences (40,), generated offline", "digits": "8x8 images, sklearn",
                    "spirals": "r = t/N, theta = 4k + 4t/N + noise", "fashion-mnist": "28x28 IDX files",
                    "mnist": "28x28 IDX files", "cifar10": "32x32x3 python batches", "npz": "arrays x, y",
                    "imagefolder": "<class>/*.png|jpg, Pillow, / 255", "csv": "numeric columns + a target column"},
    "data.preprocess": {"center": "x - mean image", "center-channel": "x - mean per channel",
                        "standardize": "(x - mu) / sigma", "pca:K": "(x - mu) U_K",
                        "whiten": "(x - mu) U diag(1/sqrt(S + eps)) U^T"},
    "data.augment": {"flip": "x[..., ::-1] with p 0.5", "crop:P": "random HxW window of the P-padded image",
                     "shift:S": "x[t - s], s ~ U{-S..S}, zero fill", "jitter:F": "(x - m) c + m + b",
                     "flip:alternating": "flip example i in epoch e iff b_i XOR (e mod 2)"},
    "transfer.strategy": {
        "linear_probe": "frozen backbone, train only a new head: scores = W h(x) + b",
        "finetune_top": "train the head + top k blocks; backbone lr = lr x backbone_lr_ratio",
        "finetune_all": "train every block; pretrained layers at lr x backbone_lr_ratio",
        "auto": "the 2x2 table: little data? x similar (measured: BN-statistics KL / probe gain)?"},
    "transfer.pretrain": {
        "supervised": "an ordinary run on the source labels",
        "autoencoder": "min ||g(h(x)) - x||^2, encoder h = the backbone",
        "shift": "classify s of x rolled by s in {-S..S} (self-supervised)"},
    "tools": {"gradcheck": "|a - n| / max(|a| + |n|), n = (f(w+h) - f(w-h)) / 2h",
              "bn_folding": "W' = g W / sqrt(var + eps), b' = g (b - mu) / sqrt(var + eps) + beta"},
}

WHERE = {
    "model.activation": "babysitter.nn.activations", "model.init": "babysitter.nn.init",
    "model.kind": "babysitter.nn.models", "model.dropout_kind": "babysitter.nn.layers",
    "model.norm": "torch.nn.BatchNorm1d/2d", "model.pool": "babysitter.nn.layers.make_pool", "model.stochastic_depth": "babysitter.nn.models.ResidualBlock",
    "optim.name": "babysitter.optim.optimizers", "schedule.name": "babysitter.optim.schedules",
    "regularize": "babysitter.optim.penalties", "train": "babysitter.train.trainer (precision, threads: train/precision.py, train/threads.py)",
    "data.source": "babysitter.data.sources", "data.preprocess": "babysitter.data.preprocess",
    "model.init_fit": "babysitter.nn.init_fit", "optim.norm_lr_scale": "babysitter.optim.optimizers.norm_groups",
    "data.augment": "babysitter.data.augment", "train.ensemble": "babysitter.train.ensemble",
    "transfer.strategy": "babysit transfer (babysitter.transfer.strategy)",
    "transfer.pretrain": "babysit transfer --pretrain (babysitter.transfer.pretrain)",
    "tools": "babysit gradcheck (babysitter.gradcheck), babysitter.nn.fold",
}


def registries() -> dict[str, list[str]]:
    """Every spec key that names a technique, with the names its registry accepts."""
    from babysitter.data.augment import AUGMENTS
    from babysitter.data.preprocess import STEPS
    from babysitter.data.sources import SOURCES
    from babysitter.nn.activations import ACTIVATIONS
    from babysitter.nn.init import INITS
    from babysitter.nn.layers import DROPOUTS
    from babysitter.nn.models import MODELS
    from babysitter.optim.optimizers import OPTIMIZERS
    from babysitter.optim.schedules import SCHEDULES
    from babysitter.transfer.pretrain import PRETRAIN
    from babysitter.transfer.strategy import STRATEGIES

    return {
        "model.kind": list(MODELS), "model.activation": list(ACTIVATIONS), "model.init": list(INITS),
        "model.norm": ["none", "batch"], "model.pool": ["max", "fractional"], "model.dropout_kind": list(DROPOUTS),
        "model.stochastic_depth": ["stochastic_depth"],
        "optim.name": list(OPTIMIZERS), "schedule.name": list(SCHEDULES),
        "regularize": list(FORMULAS["regularize"]), "train": list(FORMULAS["train"]),
        "train.ensemble": list(FORMULAS["train.ensemble"]),
        "model.init_fit": list(FORMULAS["model.init_fit"]), "optim.norm_lr_scale": ["norm_lr_scale"],
        "data.source": list(SOURCES), "data.preprocess": list(STEPS), "data.augment": list(AUGMENTS),
        "transfer.strategy": [*STRATEGIES, "auto"], "transfer.pretrain": list(PRETRAIN),
        "tools": list(FORMULAS["tools"]),
    }


def catalog() -> list[dict]:
    return [{"key": key, "name": name, "formula": FORMULAS.get(key, {}).get(name, ""), "where": WHERE[key]}
            for key, names in registries().items() for name in names]
