"""A stateful, HTTPS-served simulator of the Azure Resource Manager endpoints the controller uses.

Tests, benchmarks and ``slurm-log-controller demo`` drive the real azure-mgmt SDK clients against
it. See :class:`ArmSimulator` for the API and :mod:`.server` for the environment variables.
"""

from .arm import (
    DEFAULT_SUBSCRIPTION,
    DEFAULT_TENANT,
    ArmSimulator,
    CycleCloudCluster,
    SimCredential,
    SimRequest,
    SimResponse,
)
from .errors import ArmError
from .server import SimServer, environment

__all__ = [
    "environment",
    "ArmError",
    "ArmSimulator",
    "CycleCloudCluster",
    "DEFAULT_SUBSCRIPTION",
    "DEFAULT_TENANT",
    "SimCredential",
    "SimRequest",
    "SimResponse",
    "SimServer",
]
