"""babysitter: train neural networks the way CS231n teaches, with a doctor that babysits the run."""

from babysitter.errors import BadInput

__all__ = ["BadInput", "RunSpec", "load_spec", "fit", "resume", "Trainer", "load", "watch"]


def load_ipython_extension(ipython):
    """``%load_ext babysitter`` in IPython/Jupyter: the ``%%babysit`` cell magic."""
    from babysitter.integrations.notebook import load_ipython_extension as load

    load(ipython)


def __getattr__(name):  # torch- and pydantic-heavy parts load on first use: `babysit --help` and
    if name in ("RunSpec", "load_spec"):  # a watched script's process stay fast
        from babysitter import spec
        return getattr(spec, name)
    if name in ("fit", "resume"):  # babysitter.fit(spec, out, model=..., data=...)
        from babysitter.train import run
        return {"fit": run.train, "resume": run.resume}[name]
    if name == "load":  # babysitter.load(run_dir) -> Predictor
        from babysitter.model.load import load
        return load
    if name == "Trainer":
        from babysitter.train.trainer import Trainer
        return Trainer
    if name == "watch":  # with babysitter.watch(out=None, probes=True, budget=30) as doctor: ...
        from babysitter.doctor.watch import watch
        return watch
    raise AttributeError(name)
