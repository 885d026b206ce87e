"""Environment settings (and a `.env` file), named as in the reference document's `.env`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import UserError

ARM_ID_PREFIX = "/subscriptions/"
ADOPT_UNOWNED, ADOPT_CLUSTER = "unowned", "cluster:"


class Policy(str, Enum):
    UPSERT_ONLY = "upsert-only"
    SYNC = "sync"


class Cloud(str, Enum):
    PUBLIC = "AzurePublicCloud"
    CHINA = "AzureChinaCloud"
    US_GOVERNMENT = "AzureUSGovernment"


# Resource Manager endpoint and Entra ID authority of each national cloud.
CLOUD_ENDPOINTS = {
    Cloud.PUBLIC: ("https://management.azure.com", "login.microsoftonline.com"),
    Cloud.CHINA: ("https://management.chinacloudapi.cn", "login.chinacloudapi.cn"),
    Cloud.US_GOVERNMENT: ("https://management.usgovcloudapi.net", "login.microsoftonline.us"),
}


def _split_ids(value):
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every field is read from the environment variable of the same name, upper case, or `.env`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    subscription_id: str | None = Field(None, description="Azure subscription of the cluster, workspace and DCRs")
    resource_group: str | None = Field(None, description="Resource group where the DCRs are created")
    workspace_name: str | None = Field(None, description="Log Analytics workspace that receives the logs")
    workspace_resource_group: str | None = Field(
        None, description="Resource group of the workspace (default: RESOURCE_GROUP)"
    )
    region: str | None = Field(
        None, description="Region for `render` (offline); `plan`/`run` use the workspace's own region"
    )
    cluster_name: str | None = Field(
        None, description="CycleCloud cluster name: the ClusterName tag of its VMs, and our ownership tag"
    )
    vm_id: str | None = Field(None, description="Resource id of the scheduler VM (default: found by tag)")
    scheduler_node_name: str = Field(
        "scheduler", description="Without VM_ID: the scheduler is the cluster's VM tagged Name=<this>"
    )
    vmss_id: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Resource id(s) of compute VMSS, comma-separated"
    )
    vmss_rg: str | None = Field(None, description="With VMSS_NAME: the compute VMSS's resource group")
    vmss_name: str | None = Field(None, description="With VMSS_RG: the compute VMSS's name")
    cluster_resource_groups: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Resource groups searched for the cluster's VMs and VMSS by ClusterName tag "
        "(comma-separated; default: VMSS_RG and the scheduler VM's resource group)",
    )
    policy: Policy = Field(Policy.UPSERT_ONLY, description="upsert-only never deletes; sync deletes what we own and no longer want")
    allow_table_delete: bool = Field(False, description="With POLICY=sync: also delete owned tables (destroys their data)")
    adopt: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Take over resources that carry our names but not our mark: `unowned` (no mark) "
        "and/or `cluster:<name>` (another cluster name's), comma-separated",
    )
    table_plan: Literal["Analytics", "Basic"] = Field("Analytics", description="Log Analytics table plan")
    table_retention_days: int | None = Field(30, ge=4, le=730, description="Interactive retention of each table, 4..730 days")
    table_total_retention_days: int | None = Field(
        None, ge=4, le=4383, description="Total retention (with long-term retention), 4..4383 days; default: same as TABLE_RETENTION_DAYS"
    )
    azure_cloud: Cloud = Field(Cloud.PUBLIC, description="AzurePublicCloud, AzureChinaCloud or AzureUSGovernment")
    arm_endpoint: str | None = Field(None, description="Resource Manager URL; default: the AZURE_CLOUD's")
    apply_concurrency: int = Field(16, ge=1, le=64, description="Changes applied at once")
    arm_write_burst: int = Field(200, ge=1, description="Client-side write bucket size (ARM's: 200)")
    arm_writes_per_second: float = Field(10.0, gt=0, description="Client-side write refill rate (ARM's: 10/s)")
    arm_read_burst: int = Field(250, ge=1, description="Client-side read bucket size (ARM's: 250)")
    arm_reads_per_second: float = Field(25.0, gt=0, description="Client-side read refill rate (ARM's: 25/s)")
    metrics_address: str = Field(
        "127.0.0.1", description="Address of /metrics /healthz /readyz (the container image sets 0.0.0.0)"
    )
    metrics_port: int = Field(9480, ge=0, le=65535, description="Port of /metrics /healthz /readyz; 0 turns them off")
    reconcile_interval: float = Field(30.0, ge=1, description="Seconds between passes of `run`")
    reconcile_jitter: float = Field(0.1, ge=0, le=0.5, description="Random +/- fraction of the interval")
    log_format: Literal["text", "json"] = Field("text", description="text, or json: one JSON object per line (journald, Container Insights)")
    http_connect_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a connection to Azure")
    # ARM's own gateway gives up after about 60 s: waiting longer only stalls the pass.
    http_read_timeout: float = Field(60.0, gt=0, description="Seconds to wait for each read of an Azure response")

    _split_vmss = field_validator("vmss_id", "cluster_resource_groups", "adopt", mode="before")(_split_ids)

    @field_validator("adopt")
    @classmethod
    def _adopt(cls, items):
        for item in items:
            if item != ADOPT_UNOWNED and not (item.startswith(ADOPT_CLUSTER) and item[len(ADOPT_CLUSTER):].strip()):
                raise ValueError(f"'{item}' is neither `{ADOPT_UNOWNED}` nor `{ADOPT_CLUSTER}<name>`")
        return items

    @property
    def adopt_owners(self) -> frozenset[str | None]:
        """The owners whose resources ADOPT takes over: None for no mark, else cluster names."""
        return frozenset(None if i == ADOPT_UNOWNED else i[len(ADOPT_CLUSTER):].strip() for i in self.adopt)

    @field_validator("vm_id", "vmss_id")
    @classmethod
    def _arm_ids(cls, value):
        for item in value if isinstance(value, list) else [value]:
            if item is not None and not item.lower().startswith(ARM_ID_PREFIX):
                raise ValueError(f"'{item}' is not an Azure resource id (/subscriptions/.../providers/...)")
        return value

    @property
    def resource_manager(self) -> str:
        return (self.arm_endpoint or CLOUD_ENDPOINTS[self.azure_cloud][0]).rstrip("/")

    @property
    def authority(self) -> str:
        return CLOUD_ENDPOINTS[self.azure_cloud][1]

    @property
    def workspace_rg(self) -> str | None:
        return self.workspace_resource_group or self.resource_group

    @property
    def workspace_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.workspace_rg}"
            f"/providers/Microsoft.OperationalInsights/workspaces/{self.workspace_name}"
        )

    @property
    def compute_vmss_ids(self) -> list[str]:
        """VMSS_ID, plus the one VMSS_RG/VMSS_NAME name (the seed's scripts set both)."""
        ids = list(self.vmss_id)
        if self.vmss_rg and self.vmss_name:
            built = (
                f"/subscriptions/{self.subscription_id}/resourceGroups/{self.vmss_rg}"
                f"/providers/Microsoft.Compute/virtualMachineScaleSets/{self.vmss_name}"
            )
            if built.lower() not in {i.lower() for i in ids}:
                ids.append(built)
        return ids

    @property
    def discovery_resource_groups(self) -> list[str]:
        if self.cluster_resource_groups:
            return self.cluster_resource_groups
        groups = [self.vmss_rg] if self.vmss_rg else []
        for arm_id in [self.vm_id, *self.vmss_id]:
            if arm_id:
                groups.append(arm_id.split("/")[4])
        groups = groups or [self.resource_group]
        return list(dict.fromkeys(g.lower() for g in groups if g))

    def require(self, *names: str) -> None:
        """Fail with one line per missing setting a command needs."""
        missing = [n.upper() for n in names if not getattr(self, n)]
        if missing:
            raise UserError(
                f"setting {', '.join(missing)} is not set: export it or add it to .env (see README, Settings)"
            )


def load_settings(**overrides) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]).upper()
        raise UserError(f"setting {field}: {first['msg']}") from None
