"""A corpus of bad settings and configs, each through the CLI (`plan` and `run --once`) against the
simulator: exit 2, one `error:` line per problem naming the field, no traceback, and not one
request to Azure: no ARM call, not even a token request."""

from __future__ import annotations

import pytest

from controller.cli import main
from tests.support import SUB

OTHER_SUB = "11111111-2222-3333-4444-555555555555"
VM = f"/subscriptions/{SUB}/resourceGroups/slurm-rg/providers/Microsoft.Compute/virtualMachines/scheduler"
VMSS = f"/subscriptions/{SUB}/resourceGroups/slurm-rg/providers/Microsoft.Compute/virtualMachineScaleSets/hpc"
GOOD_ENTRY = "- {group: os, files: [/var/log/a.log], roles: [nodes]}\n"

# (environment on top of the azure fixture's good one, words the error must contain)
BAD_SETTINGS = {
    "subscription not a GUID": ({"SUBSCRIPTION_ID": "not-a-guid"}, ["SUBSCRIPTION_ID: 'not-a-guid' is not a GUID"]),
    "subscription in braces": ({"SUBSCRIPTION_ID": "{" + SUB + "}"}, ["SUBSCRIPTION_ID:", "not a GUID"]),
    "VM_ID truncated": ({"VM_ID": f"/subscriptions/{SUB}"}, ["VM_ID:", "virtual machine's resource id", "virtualMachines/<name>"]),
    "VM_ID a bare name": ({"VM_ID": "scheduler"}, ["VM_ID: 'scheduler'", "resource id"]),
    "VM_ID names a scale set": ({"VM_ID": VMSS}, ["VM_ID:", "virtual machine's resource id"]),
    "VM_ID trailing slash": ({"VM_ID": VM + "/"}, ["VM_ID:", "resource id"]),
    "VM_ID extra segment": ({"VM_ID": VM + "/extensions/ama"}, ["VM_ID:", "resource id"]),
    "VM_ID bad resource group": ({"VM_ID": VM.replace("slurm-rg", "slurm rg")}, ["VM_ID:", "its resource group", "'slurm rg'"]),
    "VM_ID bad subscription": ({"VM_ID": VM.replace(SUB, "sub-1")}, ["VM_ID:", "its subscription 'sub-1' is not a GUID"]),
    "VM_ID name with #": ({"VM_ID": VM.replace("scheduler", "sched#1")}, ["VM_ID:", "its name"]),
    "VM_ID other subscription": ({"VM_ID": VM.replace(SUB, OTHER_SUB)}, ["VM_ID:", f"subscription {OTHER_SUB}", "not SUBSCRIPTION_ID"]),
    "VMSS_ID truncated": ({"VMSS_ID": f"/subscriptions/{SUB}/resourceGroups/slurm-rg"}, ["VMSS_ID:", "scale set's resource id"]),
    "VMSS_ID second of two bad": ({"VMSS_ID": f"{VMSS},hpc2"}, ["VMSS_ID: 'hpc2'", "scale set's resource id"]),
    "VMSS_ID names a VM": ({"VMSS_ID": VM}, ["VMSS_ID:", "scale set's resource id"]),
    "VMSS_ID other subscription": ({"VMSS_ID": VMSS.replace(SUB, OTHER_SUB)}, ["VMSS_ID:", "not SUBSCRIPTION_ID"]),
    "VMSS_RG without VMSS_NAME": ({"VMSS_RG": "slurm-rg"}, ["VMSS_NAME: not set, but VMSS_RG is"]),
    "VMSS_NAME without VMSS_RG": ({"VMSS_NAME": "hpc"}, ["VMSS_RG: not set, but VMSS_NAME is"]),
    "VMSS_NAME with a slash": ({"VMSS_RG": "slurm-rg", "VMSS_NAME": "hpc/1"}, ["VMSS_NAME: 'hpc/1'", "resource name"]),
    "RESOURCE_GROUP with a space": ({"RESOURCE_GROUP": "slurm rg"}, ["RESOURCE_GROUP: 'slurm rg' is not a resource group name"]),
    "RESOURCE_GROUP ends in a dot": ({"RESOURCE_GROUP": "slurm-rg."}, ["RESOURCE_GROUP:", "not ending in '.'"]),
    "RESOURCE_GROUP too long": ({"RESOURCE_GROUP": "r" * 91}, ["RESOURCE_GROUP:", "1-90"]),
    "RESOURCE_GROUP with a slash": ({"RESOURCE_GROUP": "a/b"}, ["RESOURCE_GROUP: 'a/b'"]),
    "WORKSPACE_RESOURCE_GROUP bad": ({"WORKSPACE_RESOURCE_GROUP": "logs!"}, ["WORKSPACE_RESOURCE_GROUP: 'logs!'"]),
    "CLUSTER_RESOURCE_GROUPS one bad": ({"CLUSTER_RESOURCE_GROUPS": "slurm-rg, nodes rg"}, ["CLUSTER_RESOURCE_GROUPS: 'nodes rg'"]),
    "WORKSPACE_NAME too short": ({"WORKSPACE_NAME": "lo"}, ["WORKSPACE_NAME: 'lo' is not a Log Analytics workspace name", "4-63"]),
    "WORKSPACE_NAME starts with hyphen": ({"WORKSPACE_NAME": "-logs"}, ["WORKSPACE_NAME: '-logs'"]),
    "WORKSPACE_NAME with underscore": ({"WORKSPACE_NAME": "my_logs"}, ["WORKSPACE_NAME: 'my_logs'"]),
    "WORKSPACE_NAME too long": ({"WORKSPACE_NAME": "w" * 64}, ["WORKSPACE_NAME:", "4-63"]),
    "CLUSTER_NAME longer than a tag value": ({"CLUSTER_NAME": "c" * 257}, ["CLUSTER_NAME:", "257 characters", "256"]),
    "CLUSTER_NAME with a tab": ({"CLUSTER_NAME": "slurm\t1"}, ["CLUSTER_NAME: 'slurm\\t1' contains the control character"]),
    "SCHEDULER_NODE_NAME with a newline": ({"SCHEDULER_NODE_NAME": "sched\nuler"}, ["SCHEDULER_NODE_NAME:", "control character '\\n'"]),
    "REGION with a control character": ({"REGION": "east\x07us"}, ["REGION:", "control character"]),
    "ARM_ENDPOINT port out of range": ({"ARM_ENDPOINT": "https://127.0.0.1:99999"}, ["ARM_ENDPOINT: 'https://127.0.0.1:99999'", "port"]),
    "ARM_ENDPOINT port 0": ({"ARM_ENDPOINT": "https://127.0.0.1:0"}, ["ARM_ENDPOINT:", "port (1..65535)"]),
    "ARM_ENDPOINT port not a number": ({"ARM_ENDPOINT": "https://arm.example:https"}, ["ARM_ENDPOINT:", "port"]),
    "ARM_ENDPOINT plain http": ({"ARM_ENDPOINT": "http://management.azure.com"}, ["ARM_ENDPOINT:", "not an https URL"]),
    "ARM_ENDPOINT with a path": ({"ARM_ENDPOINT": "https://management.azure.com/subscriptions"}, ["ARM_ENDPOINT:", "path"]),
    "ARM_ENDPOINT with a query": ({"ARM_ENDPOINT": "https://management.azure.com?x=1"}, ["ARM_ENDPOINT:", "query"]),
    "ARM_ENDPOINT without a host": ({"ARM_ENDPOINT": "https://"}, ["ARM_ENDPOINT:", "does not name a host"]),
    "ARM_ENDPOINT not a URL": ({"ARM_ENDPOINT": "management.azure.com"}, ["ARM_ENDPOINT:", "https"]),
    "METRICS_ADDRESS with spaces": ({"METRICS_ADDRESS": "all interfaces"}, ["METRICS_ADDRESS: 'all interfaces' is not an IP address or host name"]),
    "METRICS_ADDRESS bad label": ({"METRICS_ADDRESS": "-host-.example"}, ["METRICS_ADDRESS:"]),
    "METRICS_ADDRESS bad IPv4": ({"METRICS_ADDRESS": "300.1.1.1:80"}, ["METRICS_ADDRESS:"]),
    "METRICS_PORT out of range": ({"METRICS_PORT": "70000"}, ["METRICS_PORT: 70000 is out of range: use 0..65535"]),
    "METRICS_PORT not a number": ({"METRICS_PORT": "http"}, ["METRICS_PORT: 'http' is not a whole number"]),
    "retention below 4": ({"TABLE_RETENTION_DAYS": "3"}, ["TABLE_RETENTION_DAYS: 3 days is out of range: use 4..730"]),
    "retention above 730": ({"TABLE_RETENTION_DAYS": "731"}, ["TABLE_RETENTION_DAYS:", "4..730"]),
    "retention in weeks": ({"TABLE_RETENTION_DAYS": "4w"}, ["TABLE_RETENTION_DAYS: '4w' is not a whole number"]),
    "total retention not an Azure value": ({"TABLE_TOTAL_RETENTION_DAYS": "1000"}, ["TABLE_TOTAL_RETENTION_DAYS:", "1095", "4383"]),
    "total retention above 12 years": ({"TABLE_TOTAL_RETENTION_DAYS": "5000"}, ["TABLE_TOTAL_RETENTION_DAYS:"]),
    "total below interactive": (
        {"TABLE_RETENTION_DAYS": "90", "TABLE_TOTAL_RETENTION_DAYS": "60"},
        ["TABLE_TOTAL_RETENTION_DAYS: 60 is below TABLE_RETENTION_DAYS (90)"],
    ),
    "Basic plan with other retention": (
        {"TABLE_PLAN": "Basic", "TABLE_RETENTION_DAYS": "90"},
        ["TABLE_RETENTION_DAYS: 90 with TABLE_PLAN=Basic", "30 days"],
    ),
    "parsed tables' Basic plan with other retention": (
        {"PARSED_TABLE_PLAN": "Basic", "PARSED_TABLE_RETENTION_DAYS": "90"},
        ["PARSED_TABLE_RETENTION_DAYS: 90 with PARSED_TABLE_PLAN=Basic", "30 days"],
    ),
    "parsed total below interactive": (
        {"PARSED_TABLE_RETENTION_DAYS": "90", "PARSED_TABLE_TOTAL_RETENTION_DAYS": "60"},
        ["PARSED_TABLE_TOTAL_RETENTION_DAYS: 60 is below PARSED_TABLE_RETENTION_DAYS (90)"],
    ),
    "PARSED_TABLE_PLAN unknown": ({"PARSED_TABLE_PLAN": "Free"}, ["PARSED_TABLE_PLAN: 'Free' is not one of 'Analytics' or 'Basic'"]),
    "TABLE_PLAN unknown": ({"TABLE_PLAN": "Free"}, ["TABLE_PLAN: 'Free' is not one of 'Analytics' or 'Basic'"]),
    "POLICY unknown": ({"POLICY": "yolo"}, ["POLICY: 'yolo' is not one of 'upsert-only' or 'sync'"]),
    "ALLOW_TABLE_DELETE not a boolean": ({"ALLOW_TABLE_DELETE": "maybe"}, ["ALLOW_TABLE_DELETE: 'maybe' is not true or false"]),
    "AZURE_CLOUD unknown": ({"AZURE_CLOUD": "AzureMarsCloud"}, ["AZURE_CLOUD: 'AzureMarsCloud' is not one of", "AzureChinaCloud"]),
    "APPLY_CONCURRENCY zero": ({"APPLY_CONCURRENCY": "0"}, ["APPLY_CONCURRENCY: 0 is out of range: use 1..64"]),
    "APPLY_CONCURRENCY too high": ({"APPLY_CONCURRENCY": "100"}, ["APPLY_CONCURRENCY: 100 is out of range: use 1..64"]),
    "APPLY_CONCURRENCY fractional": ({"APPLY_CONCURRENCY": "1.5"}, ["APPLY_CONCURRENCY: '1.5' is not a whole number"]),
    "RECONCILE_INTERVAL nan": ({"RECONCILE_INTERVAL": "nan"}, ["RECONCILE_INTERVAL: 'nan' is not a finite number"]),
    "RECONCILE_INTERVAL infinite": ({"RECONCILE_INTERVAL": "inf"}, ["RECONCILE_INTERVAL: 'inf' is not a finite number"]),
    "RECONCILE_INTERVAL below 1": ({"RECONCILE_INTERVAL": "0.5"}, ["RECONCILE_INTERVAL: 0.5 is out of range: use at least 1"]),
    "RECONCILE_JITTER above 0.5": ({"RECONCILE_JITTER": "0.9"}, ["RECONCILE_JITTER: 0.9 is out of range: use 0..0.5"]),
    "ARM_WRITES_PER_SECOND zero": ({"ARM_WRITES_PER_SECOND": "0"}, ["ARM_WRITES_PER_SECOND: 0 is out of range: use more than 0"]),
    "ARM_READ_BURST negative": ({"ARM_READ_BURST": "-1"}, ["ARM_READ_BURST: -1 is out of range: use at least 1"]),
    "WORKSPACE_NAME missing": ({"WORKSPACE_NAME": None}, ["WORKSPACE_NAME is not set"]),
    "WORKSPACE_NAME empty is missing": ({"WORKSPACE_NAME": ""}, ["WORKSPACE_NAME is not set"]),
    "three at once": (
        {"SUBSCRIPTION_ID": "x", "POLICY": "delete-all", "METRICS_PORT": "-1"},
        ["SUBSCRIPTION_ID: 'x'", "POLICY: 'delete-all'", "METRICS_PORT: -1"],
    ),
}


def _config(*entries: str) -> str:
    return "components:\n" + "".join(entries)


LONG = "p" * 36  # slurm-log-controller- (21) + 36 + _raw_dcr (8) = 65 characters

# (the components file, words the error must contain, words it must not)
BAD_CONFIGS = {
    "not UTF-8": (b"components:\n- {group: os, files: [/var/log/caf\xe9.log], roles: [nodes]}\n", ["not UTF-8", "0xe9", "save it as UTF-8"]),
    "UTF-16": ("components: []\n".encode("utf-16"), ["not UTF-8"]),
    "empty file": ("", ["is empty", "components:"]),
    "only comments": ("# nothing here yet\n", ["is empty"]),
    "a list at the top": (GOOD_ENTRY, ["top level is a list, not a mapping"]),
    "a string at the top": ("slurmd.log\n", ["top level is a str, not a mapping"]),
    "duplicate key in an entry": (
        "components:\n- group: os\n  files: [/var/log/a.log]\n  roles: [nodes]\n  files: [/var/log/b.log]\n",
        ["line 5: key 'files' is given twice in one mapping (first at line 3)", "remove one"],
    ),
    "duplicate key in a flow mapping": (_config("- {group: os, group: slurm, files: [/var/log/a.log], roles: [nodes]}\n"), ["key 'group' is given twice"]),
    "duplicate top-level key": (_config(GOOD_ENTRY) + _config(GOOD_ENTRY), ["key 'components' is given twice"]),
    "one file in two components": (
        _config(GOOD_ENTRY, "- {pattern: other, group: os, files: [/var/log/b.log, /var/log/a.log], roles: [scheduler]}\n"),
        ["components[1].files[1]: '/var/log/a.log' is also collected by components[0]"],
    ),
    "newline in a file pattern": (_config('- {group: os, files: ["/var/log/a\\n.log"], roles: [nodes]}\n'), ["components[0].files[0]:", "control character '\\n'"]),
    "tab in a file pattern": (_config('- {pattern: a, group: os, files: ["/var/log/a\\t.log"], roles: [nodes]}\n'), ["components[0].files[0]:", "control character"]),
    "association name past 64": (
        _config(f"- {{pattern: {LONG}, group: os, files: [/var/log/a.log], roles: [nodes]}}\n"),
        ["components[0]: pattern", "association name", "is 65 characters", "at most 64", "shorter `pattern:`"],
    ),
    "derived pattern too long": (
        _config(f"- {{group: os, files: [/var/log/{LONG}.log], roles: [nodes]}}\n"),
        [f"from /var/log/{LONG}.log", "association name"],
    ),
    "typo file for files": (
        _config("- {group: os, file: [/var/log/a.log], roles: [nodes]}\n"),
        ["components[0]: unknown key 'file' (did you mean 'files'?)"],
        ["missing key 'files'", "Field required"],
    ),
    "typo role for roles": (_config("- {group: os, files: [/var/log/a.log], role: [nodes]}\n"), ["unknown key 'role' (did you mean 'roles'?)"]),
    "unknown key": (_config("- {group: os, files: [/var/log/a.log], roles: [nodes], colour: red}\n"), ["components[0]: unknown key 'colour'", "known keys"]),
    "typo at the top": ("component:\n" + GOOD_ENTRY, ["unknown key 'component' (did you mean 'components'?)"], ["must be a list"]),
    "components a mapping": ("components:\n  slurmd: {group: slurm}\n", ["components: must be a list"]),
    "components empty": ("components: []\n", ["components: must be a list of one or more entries"]),
    "entry a string": (_config("- /var/log/a.log\n"), ["components[0]: '/var/log/a.log' is not a mapping"]),
    "missing group": (_config("- {files: [/var/log/a.log], roles: [nodes]}\n"), ["components[0]: missing key 'group'", "slurm, os or cyclecloud"]),
    "missing roles and files": (_config("- {group: os}\n"), ["missing key 'files'", "missing key 'roles'"]),
    "unknown group": (_config("- {group: db, files: [/var/log/a.log], roles: [nodes]}\n"), ["components[0].group: 'db' is not one of slurm, os, cyclecloud"]),
    "unknown role": (_config("- {group: os, files: [/var/log/a.log], roles: [compute]}\n"), ["components[0].roles: 'compute' is not one of scheduler, login, nodes"]),
    "roles empty": (_config("- {group: os, files: [/var/log/a.log], roles: []}\n"), ["components[0].roles: must be a list of one or more roles"]),
    "roles a string": (_config("- {group: os, files: [/var/log/a.log], roles: nodes}\n"), ["components[0].roles: must be a list"]),
    "files empty": (_config("- {group: os, files: [], roles: [nodes]}\n"), ["components[0].files: must be a list of one or more file patterns"]),
    "files a string": (_config("- {group: os, files: /var/log/a.log, roles: [nodes]}\n"), ["components[0].files: must be a list"]),
    "relative file": (_config("- {group: os, files: [var/log/a.log], roles: [nodes]}\n"), ["components[0].files[0]: 'var/log/a.log' is not an absolute path"]),
    "file is a directory": (_config("- {pattern: a, group: os, files: [/var/log/], roles: [nodes]}\n"), ["components[0].files[0]: '/var/log/' is a directory"]),
    "file a number": (_config("- {pattern: a, group: os, files: [42], roles: [nodes]}\n"), ["components[0].files[0]: 42 is not a file pattern"]),
    "file listed twice": (_config("- {group: os, files: [/var/log/a.log, /var/log/a.log], roles: [nodes]}\n"), ["components[0].files[1]:", "listed twice"]),
    "pattern with a hyphen": (_config("- {pattern: my-app, group: os, files: [/var/log/a.log], roles: [nodes]}\n"), ["components[0]: pattern 'my-app' cannot name a table"]),
    "pattern starting with a digit": (_config("- {pattern: 1app, group: os, files: [/var/log/a.log], roles: [nodes]}\n"), ["pattern '1app'", "a letter"]),
    "pattern not ASCII": (_config("- {pattern: café, group: os, files: [/var/log/a.log], roles: [nodes]}\n"), ["pattern 'café'"]),
    "pattern a number": (_config("- {pattern: 123, group: os, files: [/var/log/a.log], roles: [nodes]}\n"), ["components[0].pattern: 123 is not a name"]),
    "derived pattern with dots": (_config("- {group: os, files: [/var/log/my.app.log], roles: [nodes]}\n"), ["pattern 'my.app' (from /var/log/my.app.log) cannot name a table", "set `pattern:`"]),
    "derived pattern from a wildcard": (_config("- {group: os, files: ['/x/*/*'], roles: [nodes]}\n"), ["pattern '*' (from /x/*/*)"]),
    "unknown format": (_config("- {group: os, files: [/var/log/a.log], roles: [nodes], format: json}\n"), ["components[0].format: 'json' is not one of slurm, syslog"]),
    "process with a quote": (_config('- {group: os, files: [/var/log/a.log], roles: [nodes], process: "a\\"b"}\n'), ["components[0].process:", "not a program name"]),
    "parsed table is another's raw table": (
        _config(GOOD_ENTRY, "- {pattern: a_raw, group: os, files: [/var/log/b.log], roles: [nodes]}\n"),
        ["components[1]: its parsed table a_raw_CL is components[0]'s raw table", "doesn't end in _raw"],
    ),
    "description with a bell": (_config('- {group: os, files: [/var/log/a.log], roles: [nodes], description: "a\\ab"}\n'), ["components[0].description:", "control character"]),
    "description with a newline": (_config('- {group: os, files: [/var/log/a.log], roles: [nodes], description: "two\\nlines"}\n'), ["components[0].description:"]),
    "description a list": (_config("- {group: os, files: [/var/log/a.log], roles: [nodes], description: [a, b]}\n"), ["components[0].description:", "not text"]),
    "same pattern twice": (
        _config(GOOD_ENTRY, "- {group: slurm, files: [/var/log/slurm/a.log], roles: [scheduler]}\n"),
        ["components[1]: pattern 'a' is also components[0]'s"],
    ),
    "same pattern in other case": (
        _config(GOOD_ENTRY, "- {pattern: A, group: slurm, files: [/var/log/b.log], roles: [scheduler]}\n"),
        ["components[1]: pattern 'A' is also components[0]'s"],
    ),
    "an alias bomb as description": (
        "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))
        + _config("- {group: os, files: [/var/log/a.log], roles: [nodes], description: *a8}\n"),
        ["unknown key 'a0'", "components[0].description: [[[[[[", "...] is not text"],
    ),
    "YAML syntax error": ("components: [\n", ["not valid YAML at line 2"]),
    "tab indentation": ("components:\n\t- {group: os}\n", ["not valid YAML at line 2"]),
    "python object tag": ("components: !!python/object/apply:os.system [echo hi]\n", ["not valid YAML"]),
    "NUL character": ("components:\x00\n", ["not valid YAML"]),
    "two problems at once": (
        _config("- {group: db, files: [/var/log/a.log], roles: [nodes]}\n", "- {group: os, files: [relative.log], roles: [nodes]}\n"),
        ["components[0].group: 'db'", "components[1].files[0]: 'relative.log'"],
    ),
}


def _refused(sim, capsys, argv, words, absent=()):
    for command in (["plan"], ["run", "--once"]):
        assert main(command + argv) == 2, command
        err = capsys.readouterr().err
        lines = err.splitlines()
        assert lines and all(line.startswith("error: ") for line in lines), err
        for word in words:
            assert word in err, (word, err)
        for word in ("Traceback", "Input should", "Field required", "Value error", *absent):
            assert word not in err, (word, err)
    # Checked before the first request: no ARM call and no token fetched.
    assert sim.reads() + sim.writes() == 0 and not sim.calls
    assert sim.token_requests == 0 and sim.unauthenticated == 0


@pytest.mark.parametrize("environment, words", BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_bad_setting(sim, azure, monkeypatch, capsys, environment, words):
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    _refused(sim, capsys, [], words)


@pytest.mark.parametrize("case", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config(sim, azure, tmp_path, capsys, case):
    text, words, *absent = case
    path = tmp_path / "components.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    _refused(sim, capsys, ["--config", str(path)], words, *absent)


def test_config_named_but_missing(sim, azure, tmp_path, monkeypatch, capsys):
    _refused(sim, capsys, ["--config", str(tmp_path / "nope.yaml")], ["--config", "nope.yaml: no such file"])
    monkeypatch.setenv("SLURM_LOG_CONTROLLER_CONFIG", str(tmp_path / "gone.yaml"))
    _refused(sim, capsys, [], ["SLURM_LOG_CONTROLLER_CONFIG=", "gone.yaml: no such file"])


def test_config_is_a_directory(sim, azure, tmp_path, capsys):
    _refused(sim, capsys, ["--config", str(tmp_path)], ["--config", "is a directory"])
