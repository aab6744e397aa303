"""Freezing by depth, a new head for C classes, and per-group learning rates (CS231n, Transfer learning).

A network is read as an ordered list of *blocks*: its top-level children that hold parameters,
a normalisation layer joining the block before it (``conv1 + bn1`` is one block). A model whose
only parametrised child is a container (``self.net = Sequential(...)``) is read inside that
container. The last block is the *head*: it must end in an ``nn.Linear`` (``fc``, ``head``,
``classifier[-1]``), which :func:`replace_head` swaps for a fresh ``Linear(in_features, C)``.

Works for any ``nn.Module`` built that way: the spec's models (``conv1, bn1, act1, ..., head``),
the ResNet (``stem, block1..4, head``), torchvision's ResNet (``conv1, bn1, layer1..4, fc``).

A frozen block: ``requires_grad = False`` on its parameters (its gradient stays None, so the
optimizer -- weight decay and momentum included -- leaves it bit-identical) and its
normalisation layers kept in eval mode (a forward pre-hook), so their running statistics do
not drift toward the target data.
"""

from __future__ import annotations

import torch
from torch import nn

from babysitter.errors import BadInput

NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
Block = tuple[str, list[tuple[str, nn.Module]]]  # (name, [(qualified child name, module), ...])


def _has_params(m: nn.Module) -> bool:
    return any(True for _ in m.parameters())


def _root(model: nn.Module) -> tuple[str, nn.Module]:
    """The container whose children are the blocks (descending through single wrappers)."""
    prefix, node = "", model
    while True:
        weighted = [(n, c) for n, c in node.named_children() if _has_params(c)]
        if len(weighted) != 1 or not list(weighted[0][1].children()):
            return prefix, node
        if isinstance(weighted[0][1], NORMS):
            return prefix, node
        prefix, node = f"{prefix}{weighted[0][0]}.", weighted[0][1]


def blocks(model: nn.Module) -> list[Block]:
    """The model's blocks, input to output: ``[(name, [(qualified name, child), ...]), ...]``.

    Each block is named after its first child; parameter-free children (activations, pooling,
    dropout) are not listed; a norm layer joins the preceding block.
    """
    prefix, root = _root(model)
    out: list[Block] = []
    for name, child in root.named_children():
        if not _has_params(child):
            continue
        if isinstance(child, NORMS) and out:
            out[-1][1].append((prefix + name, child))
        else:
            out.append((prefix + name, [(prefix + name, child)]))
    if len(out) < 1:
        raise BadInput("transfer: the model has no parameters to transfer")
    return out


def block_names(model: nn.Module) -> list[str]:
    return [name for name, _ in blocks(model)]


def head_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    """(qualified name, layer) of the last ``nn.Linear`` in the last block: the classifier head."""
    name, parts = blocks(model)[-1]
    found = [(n, m) for qn, child in parts for n, m in _linears(qn, child)]
    if not found:
        raise BadInput(f"transfer: the model's last block '{name}' has no nn.Linear to replace as the head; "
                       f"blocks: {', '.join(block_names(model))}")
    return found[-1]


def _linears(qualified: str, module: nn.Module):
    if isinstance(module, nn.Linear):
        yield qualified, module
    for n, m in module.named_modules():
        if n and isinstance(m, nn.Linear):
            yield f"{qualified}.{n}", m


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the head ``Linear(D, C_source)`` for a fresh ``Linear(D, num_classes)`` (torch's
    default init), keeping the layer's class (e.g. DropConnectLinear) where it takes (in, out)."""
    name, old = head_linear(model)
    try:
        new = type(old)(old.in_features, num_classes, bias=old.bias is not None)
    except TypeError:
        new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    if hasattr(old, "p"):
        new.p = old.p
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], new.to(old.weight.device))
    return model


def _keep_eval(module: nn.Module, args) -> None:
    module.training = False


def set_frozen(model: nn.Module, names, frozen: bool = True) -> None:
    """Freeze (or unfreeze) the blocks ``names``: requires_grad and the norm layers' eval mode."""
    known = dict(blocks(model))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BadInput(f"transfer: unknown block(s) {', '.join(unknown)}; blocks: {', '.join(known)}")
    for name in names:
        for _, child in known[name]:
            for p in child.parameters():
                p.requires_grad_(not frozen)
            for m in child.modules():
                if isinstance(m, NORMS):
                    handle = getattr(m, "_frozen_hook", None)
                    if frozen and handle is None:
                        m._frozen_hook = m.register_forward_pre_hook(_keep_eval)
                    elif not frozen and handle is not None:
                        handle.remove()
                        m._frozen_hook = None


def freeze_first(model: nn.Module, k: int) -> list[str]:
    """Freeze the first ``k`` blocks (input side); returns their names."""
    names = block_names(model)[:k]
    set_frozen(model, names)
    return names


def frozen_blocks(model: nn.Module) -> list[str]:
    """Names of the blocks none of whose parameters require grad."""
    return [n for n, parts in blocks(model)
            if not any(p.requires_grad for _, c in parts for p in c.parameters())]


@torch.no_grad()
def layer_inputs(model: nn.Module, modules, x: torch.Tensor, batch: int = 1024) -> list[list[tuple[nn.Module, torch.Tensor]]]:
    """Per batch of ``x: (N, ...)``, the ``(module, input)`` of each of ``modules`` in call order,
    from a forward pass in eval mode (the model's mode and hooks restored after)."""
    out: list[list[tuple[nn.Module, torch.Tensor]]] = []
    hooks = [m.register_forward_pre_hook(lambda m, args: out[-1].append((m, args[0].detach()))) for m in modules]
    was = model.training
    model.eval()
    try:
        for s in range(0, len(x), batch):
            out.append([])
            model(x[s:s + batch])
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return out


def param_groups(model: nn.Module, lr: float, backbone_lr_ratio: float = 0.1) -> list[dict]:
    """Optimizer groups: the head at ``lr`` (first, so logs show it), every other parameter --
    frozen ones included, skipped while their grad is None -- at ``lr * backbone_lr_ratio``.
    BadInput when nothing at all requires grad."""
    if not any(p.requires_grad for p in model.parameters()):
        raise BadInput("transfer: every block is frozen, nothing would train; unfreeze the head or some blocks "
                       f"(blocks: {', '.join(block_names(model))})")
    head = blocks(model)[-1][1]
    head_ids = {id(p) for _, c in head for p in c.parameters()}
    head_params = [p for p in model.parameters() if id(p) in head_ids]
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    groups = [{"params": head_params, "lr": lr, "name": "head"}]
    if backbone:
        groups.append({"params": backbone, "lr": lr * backbone_lr_ratio, "name": "backbone"})
    return groups
