"""Shared helpers for the Slurm job archive tests: load slurm/slurm_job_archive.py (a script,
not a package) as a module."""

import importlib.util
import pathlib

import pytest

SLURM_DIR = pathlib.Path(__file__).resolve().parents[2] / "slurm"


@pytest.fixture(scope="session")
def sja():
    spec = importlib.util.spec_from_file_location(
        "slurm_job_archive", SLURM_DIR / "slurm_job_archive.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
