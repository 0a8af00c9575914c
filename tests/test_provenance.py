"""Provenance is read, never assumed: a dirty tree says so; device and dtype come from the
tensors."""

from __future__ import annotations

import subprocess

import pytest
import torch

from sharpdim.lab.provenance import device_of, git_state


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                        "HOME": str(cwd), "PATH": "/usr/bin:/bin"})


def test_git_state_says_dirty_when_a_tracked_file_changed_and_clean_otherwise(tmp_path):
    try:
        _git(tmp_path, "init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    (tmp_path / "a.txt").write_text("one\n")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "one")
    clean = git_state(tmp_path)
    assert clean.clean and len(clean.commit) == 12 and clean.describe() == clean.commit
    (tmp_path / "a.txt").write_text("two\n")
    dirty = git_state(tmp_path)
    assert dirty.dirty and not dirty.clean and dirty.describe() == clean.commit + "+dirty"


def test_git_state_outside_a_repository_is_unknown_not_clean(tmp_path):
    state = git_state(tmp_path)
    assert state.commit is None and not state.clean and state.describe() == "unknown"


def test_device_and_dtype_are_read_from_the_model_and_tensors():
    model = torch.nn.Linear(2, 1).double()
    assert device_of(model) == {"device": "cpu", "dtype": "float64"}
    assert device_of(torch.zeros(2, dtype=torch.float16)) == {"device": "cpu",
                                                              "dtype": "float16"}
    assert device_of([torch.zeros(1), torch.zeros(1, dtype=torch.float64)]) == {
        "device": "cpu", "dtype": "float32, float64"}
    assert device_of(torch.nn.ReLU()) == {"device": None, "dtype": None}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine")
def test_device_of_a_gpu_model_names_the_gpu():
    assert device_of(torch.nn.Linear(2, 1).cuda())["device"].startswith("cuda")
