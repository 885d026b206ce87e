"""Request bodies and names the simulator's tests share."""

from __future__ import annotations

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg"

RAW_COLUMNS = [
    {"name": "TimeGenerated", "type": "dateTime"},
    {"name": "RawData", "type": "string"},
    {"name": "Computer", "type": "string"},
    {"name": "FilePath", "type": "string"},
]


def table_body(name: str, columns=None) -> dict:
    return {"properties": {"plan": "Analytics", "retentionInDays": 30,
                           "schema": {"name": name, "columns": columns or RAW_COLUMNS}}}


def dcr_body(ws_id: str, pattern: str = "slurmd", dt: str = "datetime") -> dict:
    stream = f"Custom-Text-{pattern}_raw_CL"
    return {
        "location": "eastus",
        "kind": "Linux",
        "tags": {"ClusterName": "slurm1", "managed-by": "slurm-log-controller"},
        "properties": {
            "streamDeclarations": {stream: {"columns": [
                {"name": "TimeGenerated", "type": dt}, {"name": "RawData", "type": "string"},
                {"name": "Computer", "type": "string"}, {"name": "FilePath", "type": "string"},
            ]}},
            "dataSources": {"logFiles": [{
                "streams": [stream], "filePatterns": [f"/var/log/{pattern}/{pattern}.log"], "format": "text",
                "settings": {"text": {"recordStartTimestampFormat": "ISO 8601"}}, "name": f"{pattern}-log",
            }]},
            "destinations": {"logAnalytics": [{"workspaceResourceId": ws_id, "name": "la"}]},
            "dataFlows": [{"streams": [stream], "destinations": ["la"], "transformKql": "source",
                           "outputStream": f"Custom-{pattern}_raw_CL"}],
        },
    }


def make_table(sim, name="slurmd_raw_CL"):
    return sim.la.tables.begin_create_or_update(RG, "ws", name, table_body(name)).result()
