"""The simulator as one object: the core plus one mixin per resource provider.

It answers the REST calls the real ``azure-mgmt-monitor`` (DCRs, DCR associations),
``azure-mgmt-loganalytics`` (workspaces, tables) and ``azure-mgmt-compute`` (VMs, scale sets)
clients make, with Azure's status codes, long-running-operation protocol, paging and error
shapes. :meth:`ArmSimulator.serve` puts it behind HTTPS (see :mod:`.server`).

Where things live: the store, routing, paging and counting in :mod:`.core`; tokens in
:mod:`.identity`; faults and ARM's throttling in :mod:`.throttle`; one module per provider
(:mod:`.compute`, :mod:`.insights`, :mod:`.operationalinsights`) with its rules beside it
(``<provider>_rules``); the Logs data plane (query endpoint, simulated agent) in :mod:`.logs`.
A new provider is a new mixin here: its routes in ``_provider_routes``, its state in ``_setup``,
its resource types in :mod:`.resources`.
"""

from __future__ import annotations

from .compute import CycleCloudCluster, ComputeMixin
from .compute_writes import ComputeWritesMixin
from .core import DEFAULT_SUBSCRIPTION, DEFAULT_TENANT, SimulatorCore
from .identity import IdentityMixin, SimCredential
from .insights import InsightsMixin
from .logs import LogsMixin
from .messages import SimRequest, SimResponse
from .operationalinsights import OperationalInsightsMixin
from .throttle import FaultsMixin

__all__ = [
    "ArmSimulator", "CycleCloudCluster", "DEFAULT_SUBSCRIPTION", "DEFAULT_TENANT", "SimCredential",
    "SimRequest", "SimResponse",
]


class ArmSimulator(
    LogsMixin, ComputeWritesMixin, ComputeMixin, InsightsMixin, OperationalInsightsMixin, IdentityMixin, FaultsMixin, SimulatorCore,
):
    """In-memory Azure Resource Manager for one subscription (parameters: :class:`.core.SimulatorCore`)."""

