"""Value types for what the controller manages, and their exact ARM request bodies.

Each resource knows three things: its ARM id, the body Azure wants for a PUT (`body`), and the
fields we compare to find drift (`spec`). `from_arm` (`from_arm_id` for associations) reads the
same shape back, so desired and observed resources are the same type and a plan is a comparison of
two values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

TOOL = "slurm-log-controller"
MANAGED_BY_TAG = "managed-by"
CLUSTER_TAG = "slurm-log-controller-cluster"
# Associations carry no tags: the name prefix marks ours.
ASSOCIATION_PREFIX = "slurm-log-controller-"
_ASSOCIATIONS = "/providers/microsoft.insights/datacollectionruleassociations/"

# Tables carry no tags either: ownership is written into the schema description.
_TABLE_OWNER_RE = re.compile(r"\[managed-by=" + TOOL + r" cluster=([^\]]+)\]")

# Table columns say dateTime, DCR stream columns say datetime: same schema, two spellings.
RAW_COLUMNS = (("TimeGenerated", "dateTime"), ("RawData", "string"), ("Computer", "string"), ("FilePath", "string"))
STREAM_COLUMNS = tuple((name, "datetime" if kind == "dateTime" else kind) for name, kind in RAW_COLUMNS)


def ownership_tags(cluster: str | None) -> dict[str, str]:
    """None (`render` without CLUSTER_NAME): no mark; resources made from it are adopted later."""
    return {MANAGED_BY_TAG: TOOL, CLUSTER_TAG: cluster} if cluster else {}


def _tags_owner(tags: dict[str, str] | None) -> str | None:
    tags = tags or {}
    return tags.get(CLUSTER_TAG) if tags.get(MANAGED_BY_TAG) == TOOL else None


def key(arm_id: str) -> str:
    """ARM ids are case-insensitive."""
    return arm_id.lower()


def resource_group_of(arm_id: str) -> str:
    return arm_id.split("/")[4]


def same_region(a: str, b: str) -> bool:
    """Azure spells a region two ways: `eastus` and `East US`."""
    return a.replace(" ", "").lower() == b.replace(" ", "").lower()


def rule_id(resource_group_id: str, name: str) -> str:
    return f"{resource_group_id}/providers/Microsoft.Insights/dataCollectionRules/{name}"


@dataclass(frozen=True)
class Table:
    workspace_id: str
    name: str
    description: str
    plan: str
    retention_days: int | None
    total_retention_days: int | None
    columns: tuple[tuple[str, str], ...] = RAW_COLUMNS
    owner: str | None = None  # the cluster that owns it, or None when not ours
    provisioning_state: str = "Succeeded"

    kind = "table"

    @property
    def id(self) -> str:
        return f"{self.workspace_id}/tables/{self.name}"

    def body(self) -> dict[str, Any]:
        mark = f" [managed-by={TOOL} cluster={self.owner}]" if self.owner else ""
        properties: dict[str, Any] = {
            "schema": {
                "name": self.name,
                "description": f"{self.description}{mark}",
                "columns": [{"name": n, "type": t} for n, t in self.columns],
            },
            "plan": self.plan,
        }
        if self.retention_days is not None:
            properties["retentionInDays"] = self.retention_days
        if self.total_retention_days is not None:
            properties["totalRetentionInDays"] = self.total_retention_days
        return {"properties": properties}

    def spec(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "retentionInDays": self.retention_days,
            "totalRetentionInDays": self.total_retention_days,
            # Azure's own answers spell the type `datetime` or `dateTime`: both are the same type.
            "schema.columns": [f"{n}:{t.lower()}" for n, t in self.columns],
            "owner": self.owner,  # the ownership mark in the description: adopting a table writes it
        }

    @classmethod
    def from_arm(cls, workspace_id: str, data: dict[str, Any]) -> Table:
        props = data.get("properties") or {}
        schema = props.get("schema") or {}
        description = schema.get("description") or ""
        owner = _TABLE_OWNER_RE.search(description)
        return cls(
            workspace_id=workspace_id,
            name=data.get("name") or schema.get("name"),
            description=_TABLE_OWNER_RE.sub("", description).strip(),
            plan=props.get("plan", "Analytics"),
            retention_days=props.get("retentionInDays"),
            total_retention_days=props.get("totalRetentionInDays"),
            columns=tuple((c["name"], c["type"]) for c in schema.get("columns") or ()),
            owner=owner.group(1) if owner else None,
            provisioning_state=props.get("provisioningState", "Succeeded"),
        )


@dataclass(frozen=True)
class LogFileSource:
    """One log-file data source of a DCR, and its data flows: raw, and parsed (issue 11)."""

    name: str
    file_patterns: tuple[str, ...]
    input_stream: str
    output_stream: str
    transform_kql: str = "source"
    parsed_stream: str = ""  # "" for a raw-only source
    parsed_transform_kql: str = ""
    record_start_format: str | None = None  # settings.text.recordStartTimestampFormat: multiline records
    stream_columns: tuple[tuple[str, str], ...] = STREAM_COLUMNS

    @property
    def flows(self) -> tuple[tuple[str, str], ...]:
        """(output stream, transform) of each data flow from its input stream."""
        parsed = ((self.parsed_stream, self.parsed_transform_kql),) if self.parsed_stream else ()
        return ((self.output_stream, self.transform_kql), *parsed)

    def log_file(self) -> dict[str, Any]:
        log_file: dict[str, Any] = {
            "name": self.name,
            "streams": [self.input_stream],
            "filePatterns": list(self.file_patterns),
            "format": "text",
        }
        if self.record_start_format:
            log_file["settings"] = {"text": {"recordStartTimestampFormat": self.record_start_format}}
        return log_file

    def spec(self, prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}filePatterns": list(self.file_patterns),
            f"{prefix}streamDeclarations.columns": [f"{n}:{t}" for n, t in self.stream_columns],
            f"{prefix}dataFlow.transformKql": self.transform_kql,
            f"{prefix}dataFlow.outputStream": self.output_stream,
            f"{prefix}parsedFlow.transformKql": self.parsed_transform_kql,
            f"{prefix}parsedFlow.outputStream": self.parsed_stream,
            f"{prefix}recordStartTimestampFormat": self.record_start_format or "",
        }

    @classmethod
    def from_arm(cls, log_file: dict[str, Any], flows: list[dict[str, Any]], declarations: dict[str, Any]) -> LogFileSource:
        stream = (log_file.get("streams") or [""])[0]
        # Its flows are those that read its stream: the first to the raw table, the second parsed.
        own = [f for f in flows if stream in (f.get("streams") or ())] or [{}]
        parsed = own[1] if len(own) > 1 else {}
        text = (log_file.get("settings") or {}).get("text") or {}
        return cls(
            name=log_file.get("name") or "",
            file_patterns=tuple(log_file.get("filePatterns") or ()),
            input_stream=stream,
            output_stream=own[0].get("outputStream") or "",
            transform_kql=own[0].get("transformKql") or "",
            parsed_stream=parsed.get("outputStream") or "",
            parsed_transform_kql=parsed.get("transformKql") or "",
            record_start_format=text.get("recordStartTimestampFormat"),
            stream_columns=tuple((c["name"], c["type"]) for c in (declarations.get(stream) or {}).get("columns") or ()),
        )


@dataclass(frozen=True)
class DataCollectionRule:
    resource_group_id: str  # /subscriptions/<s>/resourceGroups/<rg>
    name: str
    location: str
    description: str
    workspace_id: str
    # One per component: a DCR per component has one, a DCR per role (DCR_LAYOUT) up to Azure's limits.
    sources: tuple[LogFileSource, ...]
    tags: dict[str, str] = field(default_factory=dict, hash=False)
    kind_: str = "Linux"

    kind = "dcr"

    @property
    def id(self) -> str:
        return rule_id(self.resource_group_id, self.name)

    @property
    def owner(self) -> str | None:
        return _tags_owner(self.tags)

    @property
    def file_patterns(self) -> tuple[str, ...]:
        return tuple(p for s in self.sources for p in s.file_patterns)

    @property
    def tables(self) -> tuple[str, ...]:
        """The ids of the tables it writes into."""
        return tuple(
            f"{self.workspace_id}/tables/{stream.removeprefix('Custom-')}" for s in self.sources for stream, _ in s.flows
        )

    def body(self) -> dict[str, Any]:
        # No dataCollectionEndpointId: AMA text logs need a DCE only behind Private Link.
        destination = "workspace"
        return {
            "location": self.location,
            "kind": self.kind_,
            "tags": dict(self.tags),
            "properties": {
                "description": self.description,
                "streamDeclarations": {
                    s.input_stream: {"columns": [{"name": n, "type": t} for n, t in s.stream_columns]}
                    for s in self.sources
                },
                "dataSources": {"logFiles": [s.log_file() for s in self.sources]},
                "destinations": {
                    "logAnalytics": [{"name": destination, "workspaceResourceId": self.workspace_id}]
                },
                "dataFlows": [
                    {
                        "streams": [s.input_stream],
                        "destinations": [destination],
                        "transformKql": kql,
                        "outputStream": stream,
                    }
                    for s in self.sources
                    for stream, kql in s.flows
                ],
            },
        }

    def as_update_of(self, observed: DataCollectionRule) -> DataCollectionRule:
        """The body that updates `observed`: a PUT replaces every tag, so those others added (cost
        centre, owner) are kept and ours override; and a DCR's location can't change in place."""
        return replace(self, tags={**observed.tags, **self.tags}, location=observed.location)

    def spec(self) -> dict[str, Any]:
        # A lone source's fields read as they always have (`filePatterns`); several are told apart by name.
        several = len(self.sources) > 1
        spec: dict[str, Any] = {
            "kind": self.kind_,
            "streams": [s.input_stream for s in self.sources],
            "destination.workspaceResourceId": key(self.workspace_id),
        }
        for source in self.sources:
            spec.update(source.spec(f"{source.name}." if several else ""))
        spec["tags"] = {k: v for k, v in self.tags.items() if k in (MANAGED_BY_TAG, CLUSTER_TAG)}
        return spec

    @classmethod
    def from_arm(cls, data: dict[str, Any]) -> DataCollectionRule:
        props = data.get("properties") or {}
        flows = props.get("dataFlows") or []
        destinations = (props.get("destinations") or {}).get("logAnalytics") or [{}]
        declarations = props.get("streamDeclarations") or {}
        log_files = (props.get("dataSources") or {}).get("logFiles") or [{}]
        return cls(
            resource_group_id="/".join(data["id"].split("/")[:5]),
            name=data["name"],
            location=data.get("location", ""),
            description=props.get("description") or "",
            workspace_id=destinations[0].get("workspaceResourceId") or "",
            sources=tuple(LogFileSource.from_arm(f, flows, declarations) for f in log_files),
            tags=dict(data.get("tags") or {}),
            kind_=data.get("kind") or "",
        )


@dataclass(frozen=True)
class Association:
    target_id: str  # the VM or Uniform VMSS
    rule_id: str
    name: str
    description: str = ""

    kind = "association"

    @property
    def id(self) -> str:
        return f"{self.target_id}/providers/Microsoft.Insights/dataCollectionRuleAssociations/{self.name}"

    @property
    def link(self) -> tuple[str, str]:
        """What an association means: this rule applies to that machine. Its name is incidental."""
        return key(self.target_id), key(self.rule_id)

    @property
    def owned(self) -> bool:
        return self.name.startswith(ASSOCIATION_PREFIX)

    def body(self) -> dict[str, Any]:
        return {"properties": {"description": self.description, "dataCollectionRuleId": self.rule_id}}

    def spec(self) -> dict[str, Any]:
        return {"dataCollectionRuleId": key(self.rule_id)}

    @classmethod
    def from_arm_id(cls, arm_id: str, rule_id: str, description: str = "") -> Association:
        """From the association's own id: `<machine>/providers/Microsoft.Insights/dataCollectionRuleAssociations/<name>`."""
        cut = key(arm_id).rindex(_ASSOCIATIONS)
        return cls(arm_id[:cut], rule_id, arm_id[cut + len(_ASSOCIATIONS):], description)


@dataclass(frozen=True)
class SavedSearch:
    """A workspace function: a saved search with a `functionAlias` (spec SavedSearches.json
    2020-08-01). Saved searches carry their tags in `properties.tags`, a list of name/value pairs,
    which hold our ownership mark as a DCR's tags do."""

    workspace_id: str
    name: str  # the savedSearchId in its ARM id
    function_alias: str
    function_parameters: str
    query: str
    display_name: str
    category: str
    tags: dict[str, str] = field(default_factory=dict, hash=False)
    # Observed only; an update sends it back so an edit made since we read is not overwritten.
    etag: str | None = field(default=None, compare=False)

    kind = "function"

    @property
    def id(self) -> str:
        return f"{self.workspace_id}/savedSearches/{self.name}"

    @property
    def owner(self) -> str | None:
        return _tags_owner(self.tags)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "properties": {
                "category": self.category,
                "displayName": self.display_name,
                "query": self.query,
                "functionAlias": self.function_alias,
                "functionParameters": self.function_parameters,
                "version": 2,
                "tags": [{"name": k, "value": v} for k, v in self.tags.items()],
            }
        }
        if self.etag:
            body["etag"] = self.etag
        return body

    def as_update_of(self, observed: SavedSearch) -> SavedSearch:
        """Written where the function is (an adopted one may have another id), with its etag, and
        the tags others added kept."""
        return replace(self, name=observed.name, etag=observed.etag, tags={**observed.tags, **self.tags})

    def spec(self) -> dict[str, Any]:
        return {
            "functionParameters": self.function_parameters,
            "query": self.query,
            "displayName": self.display_name,
            "category": self.category,
            "tags": {k: v for k, v in self.tags.items() if k in (MANAGED_BY_TAG, CLUSTER_TAG)},
        }

    @classmethod
    def from_arm(cls, workspace_id: str, data: dict[str, Any]) -> SavedSearch:
        props = data.get("properties") or {}
        return cls(
            workspace_id=workspace_id,
            name=data.get("name") or data["id"].rsplit("/", 1)[-1],
            function_alias=props.get("functionAlias") or "",
            function_parameters=props.get("functionParameters") or "",
            query=props.get("query") or "",
            display_name=props.get("displayName") or "",
            category=props.get("category") or "",
            tags={t.get("name", ""): t.get("value", "") for t in props.get("tags") or ()},
            etag=data.get("etag"),
        )


Resource = Table | DataCollectionRule | Association | SavedSearch


@dataclass(frozen=True)
class ScaleSet:
    id: str
    orchestration_mode: str  # Uniform | Flexible
    members: tuple[str, ...] = ()  # VM ids of a Flexible scale set's instances
    capacity: int = 0  # instances of a Uniform scale set: one association covers them all
    role: str = "nodes"  # its nodearray's role: scheduler (HA schedulers), login or nodes

    @property
    def flexible(self) -> bool:
        return self.orchestration_mode.lower() == "flexible"


@dataclass(frozen=True)
class Cluster:
    """The machines of one CycleCloud cluster, as found in Azure."""

    scheduler_vms: tuple[str, ...] = ()
    scale_sets: tuple[ScaleSet, ...] = ()
    name: str = ""  # its CycleCloud name: the ClusterName tag, and our ownership mark

    def placements(self) -> dict[str, tuple[str, bool]]:
        """Where each machine an association goes on sits in the cluster, for people reading a plan:
        machine id (lower case) -> (the group, whether the machine is one member of it)."""
        where = {key(vm): (f"scheduler VM {vm.rsplit('/', 1)[-1]}", False) for vm in self.scheduler_vms}
        for scale_set in self.scale_sets:
            name = scale_set.id.rsplit("/", 1)[-1]
            if scale_set.flexible:
                group = (f"scale set {name} ({scale_set.role}, Flexible)", True)
                where.update(dict.fromkeys((key(m) for m in scale_set.members), group))
            else:  # the scale set itself: one association covers its instances
                where[key(scale_set.id)] = (f"scale set {name} ({scale_set.role}, Uniform, {scale_set.capacity} instances)", False)
        return where

    def targets_of(self, role: str) -> dict[str, int]:
        """Where the DCRs of `role` go, and how many machines each stands for: the scheduler VM; a
        Uniform scale set itself; each VM of a Flexible one (Azure refuses an association on it)."""
        counts = dict.fromkeys(self.scheduler_vms, 1) if role == "scheduler" else {}
        for scale_set in self.scale_sets:
            if scale_set.role != role:
                continue
            if scale_set.flexible:
                counts.update(dict.fromkeys(scale_set.members, 1))
            else:
                counts[scale_set.id] = scale_set.capacity
        return counts
