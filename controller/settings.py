"""Environment settings (and a `.env` file), named as in the reference document's `.env`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from . import azure_names as names
from .errors import UserError

ADOPT_UNOWNED, ADOPT_CLUSTER = "unowned", "cluster:"


class Policy(str, Enum):
    UPSERT_ONLY = "upsert-only"
    SYNC = "sync"


class Layout(str, Enum):
    """How components are grouped into DCRs: the reference document's one per component, or one
    per role (one association per machine; split where Azure's per-DCR limits require)."""

    PER_COMPONENT = "per-component"
    PER_ROLE = "per-role"


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
# The Logs query API of each cloud: azure-monitor-query's default, docs.azure.cn
# azure-monitor/logs/api/request-format, and the SDK's sovereign-cloud sample.
LOGS_ENDPOINTS = {
    Cloud.PUBLIC: "https://api.loganalytics.io",
    Cloud.CHINA: "https://api.loganalytics.azure.cn",
    Cloud.US_GOVERNMENT: "https://api.loganalytics.us",
}


def _split_ids(value):
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _checked(check, *args):
    """A field validator from a rule of azure_names: pydantic collects every field's error."""

    def validate(value):
        items = value if isinstance(value, list) else [value]
        problems = [p for p in (check(item, *args) for item in items if item is not None) if p]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    return validate


class Settings(BaseSettings):
    """Every field is read from the environment variable of the same name, upper case, or `.env`.
    An empty value (`VM_ID=`, as `.env` files have it) means unset."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True, str_strip_whitespace=True
    )

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
        None,
        description="CycleCloud cluster name: the ClusterName tag of its VMs, and our ownership tag "
        "(default: the ClusterName tag of VM_ID/VMSS_ID)",
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
    dcr_layout: Layout = Field(
        Layout.PER_COMPONENT,
        description="per-component: one DCR per component (<pattern>_raw_dcr); per-role: one per role "
        "(slurm_<role>_dcr, slurm_<role>_2_dcr, ... past 5 components); switching migrates, see README",
    )
    allow_table_delete: bool = Field(False, description="With POLICY=sync: also delete owned tables (destroys their data)")
    install_agent: bool = Field(
        False, description="Install the Azure Monitor Agent where the cluster's scheduler VM, scale set models or "
        "Flexible members lack it (naming a lone user-assigned identity); shown in `plan` first"
    )
    upgrade_instances: bool = Field(
        False, description="Upgrade Uniform instances that lag their scale set's model (the agent added to it)"
    )
    adopt: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Take over resources that carry our names but not our mark: `unowned` (no mark) "
        "and/or `cluster:<name>` (another cluster name's), comma-separated",
    )
    table_plan: Literal["Analytics", "Basic"] = Field("Analytics", description="Log Analytics plan of the raw tables <pattern>_raw_CL")
    table_retention_days: int | None = Field(30, description="Interactive retention of each raw table, 4..730 days")
    table_total_retention_days: int | None = Field(
        None, description="Total retention of each raw table (with long-term retention), 4..730 or a long-term value up to 4383 days; default: same as TABLE_RETENTION_DAYS"
    )
    # The parsed tables are what people and functions query: Analytics, whose queries are free.
    parsed_table_plan: Literal["Analytics", "Basic"] = Field("Analytics", description="Log Analytics plan of the parsed tables <pattern>_CL")
    parsed_table_retention_days: int | None = Field(30, description="Interactive retention of each parsed table, 4..730 days")
    parsed_table_total_retention_days: int | None = Field(
        None, description="Total retention of each parsed table, as TABLE_TOTAL_RETENTION_DAYS; default: same as PARSED_TABLE_RETENTION_DAYS"
    )
    azure_cloud: Cloud = Field(Cloud.PUBLIC, description="AzurePublicCloud, AzureChinaCloud or AzureUSGovernment")
    arm_endpoint: str | None = Field(None, description="Resource Manager URL; default: the AZURE_CLOUD's")
    apply_concurrency: int = Field(16, ge=1, le=64, description="Changes applied at once")
    arm_write_burst: int = Field(200, ge=1, description="Client-side write bucket size (ARM's: 200)")
    arm_writes_per_second: float = Field(10.0, gt=0, allow_inf_nan=False, description="Client-side write refill rate (ARM's: 10/s)")
    arm_read_burst: int = Field(250, ge=1, description="Client-side read bucket size (ARM's: 250)")
    arm_reads_per_second: float = Field(25.0, gt=0, allow_inf_nan=False, description="Client-side read refill rate (ARM's: 25/s)")
    metrics_address: str = Field(
        "127.0.0.1", description="Address of /metrics /healthz /readyz (the container image sets 0.0.0.0)"
    )
    metrics_port: int = Field(9480, ge=0, le=65535, description="Port of /metrics /healthz /readyz; 0 turns them off")
    reconcile_interval: float = Field(30.0, ge=1, allow_inf_nan=False, description="Seconds between passes of `run`")
    reconcile_jitter: float = Field(0.1, ge=0, le=0.5, allow_inf_nan=False, description="Random +/- fraction of the interval")
    log_format: Literal["text", "json"] = Field("text", description="text, or json: one JSON object per line (journald, Container Insights)")
    http_connect_timeout: float = Field(10.0, gt=0, allow_inf_nan=False, description="Seconds to wait for a connection to Azure")
    # ARM's own gateway gives up after about 60 s: waiting longer only stalls the pass.
    http_read_timeout: float = Field(60.0, gt=0, allow_inf_nan=False, description="Seconds to wait for each read of an Azure response")
    # ARM counts deletes in a bucket of their own (request-limits-and-throttling).
    arm_delete_burst: int = Field(200, ge=1, description="Client-side delete bucket size (ARM's: 200)")
    arm_deletes_per_second: float = Field(10.0, gt=0, allow_inf_nan=False, description="Client-side delete refill rate (ARM's: 10/s)")
    # The Logs query API (doctor's freshness) is not behind Resource Manager: its own URL per cloud.
    logs_endpoint: str | None = Field(None, description="Log Analytics query API URL; default: the AZURE_CLOUD's")
    _logs_endpoint = field_validator("logs_endpoint")(_checked(names.https_endpoint))
    # The MCP server (`mcp --transport http`): who may call it, and from where.
    mcp_address: str = Field("127.0.0.1", description="Address the MCP server's HTTP transport listens on")
    mcp_port: int = Field(8480, ge=0, le=65535, description="Port of the MCP server's HTTP transport (0: any free port)")
    mcp_auth: Literal["entra", "local-only"] = Field(
        "entra", description="entra: Entra ID bearer tokens for MCP_AUDIENCE; local-only: no tokens, loopback MCP_ADDRESS only"
    )
    mcp_tenant_id: str | None = Field(None, description="Entra ID tenant whose tokens the MCP server accepts")
    mcp_audience: str | None = Field(
        None, description="The aud the MCP server's tokens must carry: its app registration's Application ID URI or client id"
    )
    mcp_required_scope: str | None = Field(None, description="A scope (scp) or app role (roles) every token must carry")
    mcp_jwks_url: str | None = Field(None, description="Signing keys of the tenant; default: its Entra ID discovery keys")
    mcp_issuers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Accepted token issuers, comma-separated; default: the tenant's v2.0 and v1.0 issuers"
    )
    mcp_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host headers the MCP server answers (DNS-rebinding protection), comma-separated, host:port or host:*; "
        "default: loopback names only",
    )
    mcp_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origin headers the MCP server accepts from browsers, comma-separated; default: none"
    )
    mcp_public_url: str | None = Field(None, description="The MCP endpoint's URL as clients reach it (advertised in its OAuth metadata)")
    mcp_max_rows: int = Field(500, ge=1, le=10000, description="Most rows the MCP server's run_kql tool returns")
    _mcp_urls = field_validator("mcp_jwks_url", "mcp_public_url")(_checked(names.https_url))
    _mcp_address = field_validator("mcp_address")(_checked(names.host))
    _mcp_tenant = field_validator("mcp_tenant_id")(_checked(names.guid))
    # `run` asks the workspace (2 queries) at most this often: a silent machine is news on a scale of
    # minutes (SILENT_AFTER is 10), and queries of Basic tables are billed per GB scanned.
    freshness_interval: float = Field(
        300.0, ge=0, allow_inf_nan=False,
        description="Seconds between the daemon's checks of the workspace for silent machines; 0: never",
    )

    @property
    def logs_query_endpoint(self) -> str:
        return (self.logs_endpoint or LOGS_ENDPOINTS[self.azure_cloud]).rstrip("/")

    _split_lists = field_validator(
        "vmss_id", "cluster_resource_groups", "adopt", "mcp_issuers", "mcp_allowed_hosts", "mcp_allowed_origins", mode="before"
    )(_split_ids)
    _guid = field_validator("subscription_id")(_checked(names.guid))
    _resource_groups = field_validator(
        "resource_group", "workspace_resource_group", "vmss_rg", "cluster_resource_groups"
    )(_checked(names.resource_group))
    _workspace = field_validator("workspace_name")(_checked(names.workspace_name))
    _tag_values = field_validator("cluster_name", "scheduler_node_name")(_checked(names.tag_value))
    _vm_id = field_validator("vm_id")(_checked(names.resource_id, names.VIRTUAL_MACHINE))
    _vmss_ids = field_validator("vmss_id")(_checked(names.resource_id, names.SCALE_SET))
    _vmss_name = field_validator("vmss_name")(_checked(names.resource_name))
    _region = field_validator("region")(_checked(names.plain_text))
    _endpoint = field_validator("arm_endpoint")(_checked(names.https_endpoint))
    _address = field_validator("metrics_address")(_checked(names.host))
    _retention = field_validator("table_retention_days", "parsed_table_retention_days")(_checked(names.interactive_retention))
    _total_retention = field_validator("table_total_retention_days", "parsed_table_total_retention_days")(_checked(names.total_retention))

    @field_validator("adopt")
    @classmethod
    def _adopt(cls, items):
        for item in items:
            if item != ADOPT_UNOWNED and not (item.startswith(ADOPT_CLUSTER) and item[len(ADOPT_CLUSTER):].strip()):
                raise ValueError(
                    f"{names.shown(item)} is neither `{ADOPT_UNOWNED}` nor `{ADOPT_CLUSTER}<name>`: "
                    f"e.g. ADOPT={ADOPT_UNOWNED} or ADOPT={ADOPT_CLUSTER}old-cluster-name"
                )
            problem = names.tag_value(item)
            if problem:
                raise ValueError(problem)
        return items

    @property
    def adopt_owners(self) -> frozenset[str | None]:
        """The owners whose resources ADOPT takes over: None for no mark, else cluster names."""
        return frozenset(None if i == ADOPT_UNOWNED else i[len(ADOPT_CLUSTER):].strip() for i in self.adopt)

    def cross_field_problems(self) -> list[str]:
        """What no single setting shows: each a line naming the setting and the fix."""
        problems = []
        for name, arm_id in [("VM_ID", self.vm_id)] + [("VMSS_ID", i) for i in self.vmss_id]:
            if arm_id and self.subscription_id and names.subscription_of(arm_id).lower() != self.subscription_id.lower():
                problems.append(
                    f"{name}: '{arm_id}' is in subscription {names.subscription_of(arm_id)}, not SUBSCRIPTION_ID "
                    f"({self.subscription_id}): the controller works in one subscription; use that subscription's machines"
                )
        if bool(self.vmss_rg) != bool(self.vmss_name):
            given, missing = ("VMSS_RG", "VMSS_NAME") if self.vmss_rg else ("VMSS_NAME", "VMSS_RG")
            problems.append(f"{missing}: not set, but {given} is: set both to name one scale set, or use VMSS_ID")
        for prefix, plan, interactive, total in (
            ("TABLE", self.table_plan, self.table_retention_days, self.table_total_retention_days),
            ("PARSED_TABLE", self.parsed_table_plan, self.parsed_table_retention_days, self.parsed_table_total_retention_days),
        ):
            if interactive is not None and total is not None and total < interactive:
                problems.append(
                    f"{prefix}_TOTAL_RETENTION_DAYS: {total} is below {prefix}_RETENTION_DAYS ({interactive}): the total "
                    "includes the interactive days; raise it, or leave it unset to keep the same"
                )
            if plan == "Basic" and interactive not in (None, names.BASIC_RETENTION_DAYS):
                problems.append(
                    f"{prefix}_RETENTION_DAYS: {interactive} with {prefix}_PLAN=Basic: Azure fixes a Basic table's retention "
                    f"at {names.BASIC_RETENTION_DAYS} days; leave {prefix}_RETENTION_DAYS unset, or use {prefix}_PLAN=Analytics"
                )
        return problems

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
                groups.append(names.resource_group_of(arm_id))
        groups = groups or [self.resource_group]
        return list(dict.fromkeys(g.lower() for g in groups if g))

    def require(self, *fields: str) -> None:
        """Fail with one line per missing setting a command needs."""
        missing = [f.upper() for f in fields if not getattr(self, f)]
        if missing:
            raise UserError("\n".join(
                f"{name} is not set: export it or add it to .env (see README, Settings)" for name in missing
            ))

    def require_cluster_identity(self) -> None:
        """plan/run need the cluster's name: CLUSTER_NAME, or machines whose ClusterName tag names it."""
        if not (self.cluster_name or self.vm_id or self.compute_vmss_ids):
            raise UserError(
                "CLUSTER_NAME is not set, and nothing else names the cluster: set CLUSTER_NAME, or VM_ID/VMSS_ID "
                "so it can be read from their ClusterName tag"
            )


def _bounds(field: str) -> str:
    """The range a numeric setting allows, from its Field constraints: '1..64', 'at least 1'."""
    rules = {type(rule).__name__.lower(): rule for rule in Settings.model_fields[field].metadata}
    low = f"{rules['ge'].ge}" if "ge" in rules else None
    high = f"{rules['le'].le}" if "le" in rules else None
    if "gt" in rules:
        return f"more than {rules['gt'].gt}"
    if low and high:
        return f"{low}..{high}"
    return f"at least {low}" if low else f"at most {high}"


def _in_user_words(error: dict) -> str:
    """One pydantic error as a line naming the environment variable, in our words, not pydantic's."""
    field = str(error["loc"][0]) if error["loc"] else ""
    value = error.get("input")
    shown = names.shown(value) if isinstance(value, str) else repr(value)
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "value_error":
        why = str(ctx["error"])
    elif kind in ("int_parsing", "int_from_float", "int_type"):
        why = f"{shown} is not a whole number"
    elif kind in ("float_parsing", "float_type", "finite_number"):
        why = f"{shown} is not a finite number"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        why = f"{value} is out of range: use {_bounds(field)}"
    elif kind in ("enum", "literal_error"):
        why = f"{shown} is not one of {ctx['expected']}"
    elif kind in ("bool_parsing", "bool_type"):
        why = f"{shown} is not true or false"
    else:
        why = f"{shown} is not valid: {Settings.model_fields[field].description}" if field else f"{shown} is not valid"
    return f"{field.upper()}: {why}"


def load_settings(**overrides) -> Settings:
    """Settings, or a UserError with one line for each bad setting, all of them at once."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise UserError("\n".join(_in_user_words(e) for e in exc.errors())) from None
    problems = settings.cross_field_problems()
    if problems:
        raise UserError("\n".join(problems))
    return settings
