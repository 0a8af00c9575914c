"""``sharpdim estimate``: SD of a built-in task's network or of the user's own model.

    sharpdim estimate --task mnist1d_mlp --lr 0.1 --batch-size 32 --method exact slq
    sharpdim estimate --task mnist1d_mlp --state-dict run.pt --lr 0.1 --batch-size 32
    sharpdim estimate --model mypkg.models:make_cnn --data mypkg.data:train_set \
        --loss cross_entropy --lr 0.1 --batch-size 32 --dry-run

A user model is ``--model MODULE:CALLABLE`` (called with no arguments, it returns the
``nn.Module``) with ``--data MODULE:CALLABLE`` (returning any data form
:func:`~sharpdim.estimators.estimate.estimate_sharpness` accepts: tensors, a ``Dataset``,
a ``DataLoader``…) and ``--loss`` (``cross_entropy``, ``mse`` or ``MODULE:CALLABLE``);
modules are imported from the current directory first. ``--dry-run`` prints the cost plan
instead of estimating.

The network comes from the task catalogue (``--option KEY=VALUE`` overrides the task's
options, values parsed as TOML literals) with initialization seed ``--model-seed``, or with
weights from ``--state-dict`` (a ``torch.save``'d ``state_dict``). Each method prints one
summary line; ``--json`` prints the fields instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

from sharpdim.vocabulary import (  # the one vocabulary (no torch import)
    AGGREGATES,
    EPSILON_FORMS,
    JACOBIANS,
    METHODS,
    OPTIMIZERS,
    SMOOTHINGS,
)

__all__ = ["add_parser", "run", "parse_option"]


def parse_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE a TOML literal (``0.1``, ``true``, ``"x"``; bare words are
    strings)."""
    if "=" not in text:
        raise ValueError(f"--option must look like KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def add_parser(subparsers) -> None:
    from sharpdim.lab.sweeps.tasks import task_names

    p = subparsers.add_parser("estimate", help="SD of a built-in task's network or your model",
                              description="SD of a built-in task's network (freshly "
                                          "initialized or loaded from --state-dict), or of "
                                          "your own --model on your --data.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--task", metavar="TASK",
                        help="task name, one of: " + ", ".join(task_names()))
    source.add_argument("--model", metavar="MODULE:CALLABLE",
                        help="your model: a callable returning an nn.Module (needs --data)")
    p.add_argument("--data", metavar="MODULE:CALLABLE",
                   help="your training data (with --model): a callable returning tensors "
                        "(inputs, targets), a Dataset or a DataLoader")
    p.add_argument("--loss", default="cross_entropy", metavar="LOSS",
                   help="loss of --model: cross_entropy (default), mse, or MODULE:CALLABLE "
                        "returning the minibatch mean loss(outputs, targets)")
    p.add_argument("--output", default=None, metavar="KEY",
                   help="entry of the model's outputs the loss takes (e.g. logits)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the predicted HVPs, seconds and memory; estimate nothing")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="override a task option (repeatable)")
    p.add_argument("--model-seed", type=int, default=0, help="initialization seed")
    p.add_argument("--state-dict", type=Path, default=None, help="weights to load (torch.save)")
    p.add_argument("--lr", type=float, required=True, help="learning rate η of the SGD step")
    p.add_argument("--batch-size", type=int, required=True, help="minibatch size b")
    p.add_argument("--method", nargs="+", default=["exact"], choices=METHODS,
                   help="one or more estimators: exact (dense Hessians), slq, kde, ps "
                        "(densities from Lanczos); default exact")
    p.add_argument("--aggregate", choices=AGGREGATES, default="mean",
                   help="mean over minibatches order by order (default) or sup over points "
                        "first")
    p.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS,
                   help="optimizer whose step is examined (default sgd; heavy ball with "
                        "--momentum > 0; 'momentum' is 'sgd' with --momentum > 0)")
    p.add_argument("--momentum", type=float, default=0.0,
                   help="heavy-ball momentum of the sgd step (default 0)")
    p.add_argument("--weight-decay", type=float, default=0.0,
                   help="κ: the GD Jacobian is I − η(H + κI) (default 0)")
    p.add_argument("--jacobian", choices=JACOBIANS, default="gd",
                   help="gd: ln|1 - lr·(α + κ)| of the loss Hessian (default); update: the "
                        "optimizer's true step Jacobian")
    p.add_argument("--epsilon", type=float, default=None, help="ε floor of ln σ")
    p.add_argument("--epsilon-form", choices=EPSILON_FORMS, default="clamp",
                   help="clamp: ln max(σ, ε) (default); additive: the paper's ln(σ + ε)")
    p.add_argument("--smoothing", choices=SMOOTHINGS, default=None,
                   help="kde/ps kernel variable (default: curvature, the paper's)")
    p.add_argument("--n-batches", type=int, default=None, help="minibatches R")
    p.add_argument("--n-steps", type=int, default=None, help="Lanczos steps m (density methods)")
    p.add_argument("--seed", type=int, default=0, help="seed of the minibatches and probes")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(run=run)


def load_object(spec: str, flag: str):
    """The attribute ``NAME`` of module ``MODULE`` for ``spec = "MODULE:NAME"`` (the current
    directory first on the import path); ``ValueError`` naming the flag otherwise."""
    import importlib

    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise ValueError(f"{flag} must look like MODULE:CALLABLE, got {spec!r}")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{flag} must name an importable module, got {module_name!r}: "
                         f"{exc}") from exc
    if not hasattr(module, name):
        raise ValueError(f"{flag} must name an attribute of {module_name}, got {name!r}")
    return getattr(module, name)


def _user_setup(args):
    """``(model, loss_fn, data, description)`` of ``--model``/``--data``/``--loss``."""
    import torch.nn.functional as F
    from torch import nn

    if args.data is None:
        raise ValueError("--data must be given with --model (MODULE:CALLABLE returning the "
                         "training data), got none")
    model = load_object(args.model, "--model")()
    if not isinstance(model, nn.Module):
        raise ValueError(f"--model must return a torch.nn.Module, got {type(model).__name__}")
    data = load_object(args.data, "--data")()
    losses = {"cross_entropy": F.cross_entropy, "mse": F.mse_loss}
    loss_fn = losses.get(args.loss) or load_object(args.loss, "--loss")
    return model, loss_fn, data, {"model": args.model, "data": args.data, "loss": args.loss}


def _task_setup(args):
    from sharpdim.lab.sweeps.tasks import get_task

    task = get_task(args.task)
    options = task.options(dict(parse_option(o) for o in args.option))
    loss_fn = task.loss_for(options)  # cross-entropy, or MSE with --option loss=mse
    data = task.dataset(options)
    model = task.model(options, args.model_seed)
    return model, loss_fn, (data.x_train, data.y_train), {"task": args.task,
                                                          "options": options}


def _load_state(model, path: Path, target: str) -> None:
    """Load a ``torch.save``'d state dict into ``model`` (described as ``target``, e.g.
    ``task 'mnist1d_mlp'``); a one-line ``ValueError`` naming every missing, unexpected and
    mis-shaped key when it does not fit."""
    import torch

    head = f"--state-dict {path} does not fit {target}"
    if not path.is_file():
        raise ValueError(f"--state-dict {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file, or a pickle that is not plain tensors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{head}: must be a torch.save'd state_dict ({first})") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{head}: must hold a state_dict, got a {type(state).__name__}")
    problems = _state_mismatches(model.state_dict(), state)
    if problems:
        raise ValueError(f"{head}: " + "; ".join(problems))
    model.load_state_dict(state)


def _state_mismatches(expected: dict, given: dict) -> list[str]:
    """Every difference between a model's state dict and a loaded one, as short phrases."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [f"{k} must have shape {tuple(expected[k].shape)}, got "
              f"{tuple(getattr(given[k], 'shape', ()))}"
              for k in expected if k in given
              and tuple(getattr(given[k], "shape", ())) != tuple(expected[k].shape)]
    out = []
    if missing:
        out.append("missing key(s) " + ", ".join(missing))
    if unexpected:
        out.append("unexpected key(s) " + ", ".join(unexpected))
    return out + shapes


def _optimizer(args: argparse.Namespace) -> dict:
    """The optimizer as one object: an update map from the flags (``--lr`` missing: the name,
    which the estimator refuses with "lr must be given")."""
    from sharpdim.curvature.update_maps import make_update_map

    if args.lr is None:
        return dict(optimizer=args.optimizer)
    return dict(optimizer=make_update_map(args.optimizer, lr=args.lr, momentum=args.momentum,
                                          weight_decay=args.weight_decay))


def run(args: argparse.Namespace) -> int:
    from sharpdim.estimators import EstimateOptions, estimate_sharpness

    try:
        if args.model is not None:
            model, loss_fn, data, source = _user_setup(args)
        else:
            model, loss_fn, data, source = _task_setup(args)
        if args.state_dict is not None:
            target = (f"task {args.task!r}" if args.model is None
                      else f"model {args.model!r}")
            _load_state(model, args.state_dict, target)
    except ValueError as exc:
        print(f"sharpdim estimate: {exc}", file=sys.stderr)
        return 2
    results = []
    for method in args.method:
        try:
            options = EstimateOptions(
                output=args.output, n_steps=args.n_steps, epsilon=args.epsilon,
                epsilon_form=args.epsilon_form,
                smoothing=args.smoothing if method in ("kde", "ps") else None)
            est = estimate_sharpness(
                model, loss_fn, data, **_optimizer(args), dry_run=args.dry_run,
                batch_size=args.batch_size, method=method, aggregate=args.aggregate,
                jacobian=args.jacobian, seed=args.seed, n_batches=args.n_batches,
                options=options,
            )
        except (ValueError, TypeError, ArithmeticError) as exc:  # NonFiniteError included
            print(f"sharpdim estimate: {exc}", file=sys.stderr)
            return 2
        results.append(est)
        if not args.json:
            print(est.summary())
    if args.json and args.dry_run:
        print(json.dumps([p.to_dict() | source for p in results], indent=2, allow_nan=False))
    elif args.json:
        print(json.dumps([
            {"method": e.diagnostics.method, "dimension": e.dimension, "lambda_1": e.lambda_1,
             "top_eigenvalue": e.top_eigenvalue, "bottom_eigenvalue": e.bottom_eigenvalue,
             "trace": e.trace, "n_hvp": e.diagnostics.n_hvp, "seed": args.seed,
             "epsilon": e.diagnostics.epsilon, "epsilon_form": e.diagnostics.epsilon_form,
             "smoothing": e.diagnostics.smoothing,
             "conditioning": e.diagnostics.conditioning.to_dict()} | source
            for e in results], indent=2, default=str))
    return 0
