"""`sharpdim estimate` end to end on the smallest built-in task, and its bad input."""

from __future__ import annotations

import json

import pytest

from sharpdim.cli import main
from sharpdim.cli.estimate import parse_option


def test_option_values_are_toml_literals_and_bare_words_are_strings():
    assert parse_option("width=8") == ("width", 8)
    assert parse_option("lr = 0.5") == ("lr", 0.5)
    assert parse_option("name=abc") == ("name", "abc")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_option("width")


def test_estimate_prints_one_record_per_method_with_the_seed(capsys):
    status = main(["estimate", "--task", "mnist1d_mlp", "--option", "n_samples=400",
                   "--lr", "0.1", "--batch-size", "16", "--method", "exact", "slq",
                   "--n-batches", "2", "--n-steps", "8", "--seed", "3", "--json"])
    assert status == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in records] == ["exact", "slq"]
    n = 1056  # 40·16 + 16·16 + 16·10 weights, no bias (the paper's architecture)
    for r in records:
        assert 0.0 <= r["dimension"] <= n and r["seed"] == 3


@pytest.mark.parametrize("argv, message", [
    (["--task", "no_such_task", "--lr", "0.1", "--batch-size", "8"], "task must be one of"),
    (["--task", "mnist1d_mlp", "--lr", "-0.1", "--batch-size", "8"], "lr must be"),
    (["--task", "mnist1d_mlp", "--option", "width=wide", "--lr", "0.1", "--batch-size", "8"],
     "task.width"),
])
def test_bad_input_is_a_clear_error_before_any_work(argv, message, capsys):
    assert main(["estimate", *argv]) == 2
    assert message in capsys.readouterr().err
