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
class DataCollectionRule:
    resource_group_id: str  # /subscriptions/<s>/resourceGroups/<rg>
    name: str
    location: str
    description: str
    file_patterns: tuple[str, ...]
    input_stream: str
    output_stream: str
    workspace_id: str
    tags: dict[str, str] = field(default_factory=dict, hash=False)
    stream_columns: tuple[tuple[str, str], ...] = STREAM_COLUMNS
    transform_kql: str = "source"
    kind_: str = "Linux"
    # The parsed table's data flow, from the same input stream (issue 11); "" for a raw-only DCR.
    parsed_stream: str = ""
    parsed_transform_kql: str = ""
    record_start_format: str | None = None  # settings.text.recordStartTimestampFormat: multiline records

    kind = "dcr"

    @property
    def id(self) -> str:
        return rule_id(self.resource_group_id, self.name)

    @property
    def owner(self) -> str | None:
        return _tags_owner(self.tags)

    @property
    def tables(self) -> tuple[str, ...]:
        """The ids of the tables it writes into."""
        streams = (self.output_stream, self.parsed_stream) if self.parsed_stream else (self.output_stream,)
        return tuple(f"{self.workspace_id}/tables/{s.removeprefix('Custom-')}" for s in streams)

    def body(self) -> dict[str, Any]:
        # No dataCollectionEndpointId: AMA text logs need a DCE only behind Private Link.
        destination = "workspace"
        flows = [(self.output_stream, self.transform_kql)]
        if self.parsed_stream:
            flows.append((self.parsed_stream, self.parsed_transform_kql))
        log_file: dict[str, Any] = {
            "name": self.name.replace("_", "-"),
            "streams": [self.input_stream],
            "filePatterns": list(self.file_patterns),
            "format": "text",
        }
        if self.record_start_format:
            log_file["settings"] = {"text": {"recordStartTimestampFormat": self.record_start_format}}
        return {
            "location": self.location,
            "kind": self.kind_,
            "tags": dict(self.tags),
            "properties": {
                "description": self.description,
                "streamDeclarations": {
                    self.input_stream: {"columns": [{"name": n, "type": t} for n, t in self.stream_columns]}
                },
                "dataSources": {"logFiles": [log_file]},
                "destinations": {
                    "logAnalytics": [{"name": destination, "workspaceResourceId": self.workspace_id}]
                },
                "dataFlows": [
                    {
                        "streams": [self.input_stream],
                        "destinations": [destination],
                        "transformKql": kql,
                        "outputStream": stream,
                    }
                    for stream, kql in flows
                ],
            },
        }

    def as_update_of(self, observed: DataCollectionRule) -> DataCollectionRule:
        """The body that updates `observed`: a PUT replaces every tag, so those others added (cost
        centre, owner) are kept and ours override; and a DCR's location can't change in place."""
        return replace(self, tags={**observed.tags, **self.tags}, location=observed.location)

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind_,
            "filePatterns": list(self.file_patterns),
            "streams": [self.input_stream],
            "streamDeclarations.columns": [f"{n}:{t}" for n, t in self.stream_columns],
            "destination.workspaceResourceId": key(self.workspace_id),
            "dataFlow.transformKql": self.transform_kql,
            "dataFlow.outputStream": self.output_stream,
            "parsedFlow.transformKql": self.parsed_transform_kql,
            "parsedFlow.outputStream": self.parsed_stream,
            "recordStartTimestampFormat": self.record_start_format or "",
            "tags": {k: v for k, v in self.tags.items() if k in (MANAGED_BY_TAG, CLUSTER_TAG)},
        }

    @classmethod
    def from_arm(cls, data: dict[str, Any]) -> DataCollectionRule:
        props = data.get("properties") or {}
        log_files = (props.get("dataSources") or {}).get("logFiles") or [{}]
        flows = props.get("dataFlows") or [{}]
        destinations = (props.get("destinations") or {}).get("logAnalytics") or [{}]
        streams = log_files[0].get("streams") or [""]
        declared = (props.get("streamDeclarations") or {}).get(streams[0], {})
        parsed = flows[1] if len(flows) > 1 else {}
        text = (log_files[0].get("settings") or {}).get("text") or {}
        return cls(
            resource_group_id="/".join(data["id"].split("/")[:5]),
            name=data["name"],
            location=data.get("location", ""),
            description=props.get("description") or "",
            file_patterns=tuple(log_files[0].get("filePatterns") or ()),
            input_stream=streams[0],
            output_stream=flows[0].get("outputStream") or "",
            workspace_id=destinations[0].get("workspaceResourceId") or "",
            tags=dict(data.get("tags") or {}),
            stream_columns=tuple((c["name"], c["type"]) for c in declared.get("columns") or ()),
            transform_kql=flows[0].get("transformKql") or "",
            kind_=data.get("kind") or "",
            parsed_stream=parsed.get("outputStream") or "",
            parsed_transform_kql=parsed.get("transformKql") or "",
            record_start_format=text.get("recordStartTimestampFormat"),
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
