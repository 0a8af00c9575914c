"""``sharpdim estimate``: SD of a built-in task's network, freshly initialized or loaded.

    sharpdim estimate --task mnist1d_mlp --lr 0.1 --batch-size 32 --method exact slq
    sharpdim estimate --task mnist1d_mlp --state-dict run.pt --lr 0.1 --batch-size 32

The network comes from the task catalogue (``--option KEY=VALUE`` overrides the task's
options, values parsed as TOML literals) with initialization seed ``--model-seed``, or with
weights from ``--state-dict`` (a ``torch.save``'d ``state_dict``). Each method prints one
summary line; ``--json`` prints the fields instead.
"""

from __future__ import annotations

import argparse
import dataclasses
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
    from sharpdim.experiments.tasks import task_names

    p = subparsers.add_parser("estimate", help="SD of a built-in task's network",
                              description="SD of a built-in task's network, freshly "
                                          "initialized or loaded from --state-dict.")
    p.add_argument("--task", required=True, metavar="TASK",
                   help="task name, one of: " + ", ".join(task_names()))
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


def run(args: argparse.Namespace) -> int:
    import torch

    from sharpdim.estimators import estimate_sharpness
    from sharpdim.experiments.tasks import get_task

    try:
        task = get_task(args.task)
        options = task.options(dict(parse_option(o) for o in args.option))
        loss_fn = task.loss_for(options)  # cross-entropy, or MSE with --option loss=mse
    except ValueError as exc:
        print(f"sharpdim estimate: {exc}", file=sys.stderr)
        return 2
    data = task.dataset(options)
    model = task.model(options, args.model_seed)
    if args.state_dict is not None:
        if not args.state_dict.is_file():
            print(f"sharpdim estimate: --state-dict {args.state_dict} does not exist",
                  file=sys.stderr)
            return 2
        try:
            state = torch.load(args.state_dict, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state:
                state = state["state_dict"]
            if not isinstance(state, dict):
                raise TypeError(f"it holds a {type(state).__name__}, not a state_dict")
            model.load_state_dict(state)
        except Exception as exc:  # unpickling, wrong keys/shapes, not a dict: one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"sharpdim estimate: --state-dict {args.state_dict} does not fit task "
                  f"{args.task!r} (options {options}): {first}", file=sys.stderr)
            return 2
    results = []
    for method in args.method:
        try:
            est = estimate_sharpness(
                model, loss_fn, (data.x_train, data.y_train), lr=args.lr,
                batch_size=args.batch_size, method=method, aggregate=args.aggregate,
                optimizer=args.optimizer, momentum=args.momentum, jacobian=args.jacobian,
                weight_decay=args.weight_decay, seed=args.seed, n_batches=args.n_batches,
                n_steps=args.n_steps, epsilon=args.epsilon, epsilon_form=args.epsilon_form,
                smoothing=args.smoothing if method in ("kde", "ps") else None,
            )
        except (ValueError, TypeError, ArithmeticError) as exc:  # NonFiniteError included
            print(f"sharpdim estimate: {exc}", file=sys.stderr)
            return 2
        results.append(est)
        if not args.json:
            print(est.summary())
    if args.json:
        print(json.dumps([
            {"method": e.diagnostics.method, "dimension": e.dimension, "lambda_1": e.lambda_1,
             "top_eigenvalue": e.top_eigenvalue, "bottom_eigenvalue": e.bottom_eigenvalue,
             "trace": e.trace, "n_hvp": e.diagnostics.n_hvp, "seed": args.seed,
             "epsilon": e.diagnostics.epsilon, "epsilon_form": e.diagnostics.epsilon_form,
             "smoothing": e.diagnostics.smoothing,
             "conditioning": dataclasses.asdict(e.diagnostics.conditioning),
             "task": args.task, "options": options}
            for e in results], indent=2, default=str))
    return 0
