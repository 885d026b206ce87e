"""Names shared by the tests' simulated Azure."""

SUB = "00000000-0000-0000-0000-000000000000"
RG = "slurm-rg"


def unavailable(why: str):
    """A test that can't run on this machine: skipped on a developer's, failed in CI (CI=true),
    where a silent skip would hide that nothing was tested."""
    import os

    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the test cannot run: {why}")
    pytest.skip(why)
