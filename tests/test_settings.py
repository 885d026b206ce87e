"""Settings: the seed's names, derived values, and clouds (pure)."""

from pathlib import Path

import pytest

from controller.errors import UserError
from controller.settings import Settings, load_settings

SUB = "00000000-0000-0000-0000-000000000000"
VM = f"/subscriptions/{SUB}/resourceGroups/Sched-RG/providers/Microsoft.Compute/virtualMachines/scheduler"
VMSS = f"/subscriptions/{SUB}/resourceGroups/nodes-rg/providers/Microsoft.Compute/virtualMachineScaleSets/hpc"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_machines_are_searched_where_the_seeds_ids_point(monkeypatch):
    monkeypatch.setenv("VM_ID", VM)
    monkeypatch.setenv("VMSS_ID", VMSS)
    assert load_settings(resource_group="dcr-rg").discovery_resource_groups == ["sched-rg", "nodes-rg"]
    monkeypatch.setenv("CLUSTER_RESOURCE_GROUPS", "a, b")
    assert load_settings().discovery_resource_groups == ["a", "b"]


def test_without_ids_machines_are_searched_in_the_resource_group():
    assert load_settings(resource_group="dcr-rg").discovery_resource_groups == ["dcr-rg"]


def test_vmss_rg_and_name_make_one_id(monkeypatch):
    for name, value in {"SUBSCRIPTION_ID": SUB, "VMSS_RG": "nodes-rg", "VMSS_NAME": "hpc", "VMSS_ID": VMSS.upper()}.items():
        monkeypatch.setenv(name, value)
    assert load_settings().compute_vmss_ids == [VMSS.upper()]  # the same scale set, not twice


def test_workspace_defaults_to_the_resource_group(monkeypatch):
    s = load_settings(subscription_id=SUB, resource_group="rg", workspace_name="logs")
    assert s.workspace_id.endswith("/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/logs")
    monkeypatch.setenv("WORKSPACE_RESOURCE_GROUP", "logs-rg")
    assert "/resourceGroups/logs-rg/" in load_settings(subscription_id=SUB, workspace_name="logs").workspace_id


@pytest.mark.parametrize("cloud, endpoint, authority", [
    ("AzurePublicCloud", "https://management.azure.com", "login.microsoftonline.com"),
    ("AzureChinaCloud", "https://management.chinacloudapi.cn", "login.chinacloudapi.cn"),
    ("AzureUSGovernment", "https://management.usgovcloudapi.net", "login.microsoftonline.us"),
])
def test_national_clouds(monkeypatch, cloud, endpoint, authority):
    monkeypatch.setenv("AZURE_CLOUD", cloud)
    s = load_settings()
    assert (s.resource_manager, s.authority) == (endpoint, authority)
    monkeypatch.setenv("ARM_ENDPOINT", "https://arm.example/")
    assert load_settings().resource_manager == "https://arm.example"


def test_an_id_that_is_not_an_arm_id_is_refused(monkeypatch):
    monkeypatch.setenv("VM_ID", "scheduler")
    with pytest.raises(UserError, match="VM_ID: .scheduler. is not a virtual machine.s resource id"):
        load_settings()


def test_dot_env_is_read(tmp_path):
    (tmp_path / ".env").write_text(f"SUBSCRIPTION_ID={SUB}\nCLUSTER_NAME=from-dotenv\nSLURMCTLD_TABLE_NAME=ignored_CL\n")
    s = load_settings()
    assert (s.subscription_id, s.cluster_name) == (SUB, "from-dotenv")


def test_empty_values_mean_unset(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("VM_ID=\nAPPLY_CONCURRENCY=\nTABLE_PLAN=\n")
    monkeypatch.setenv("VMSS_ID", "")
    s = load_settings()
    assert (s.vm_id, s.vmss_id, s.apply_concurrency, s.table_plan) == (None, [], 16, "Analytics")


def test_values_are_read_without_surrounding_blanks(monkeypatch):
    monkeypatch.setenv("SUBSCRIPTION_ID", f" {SUB} ")
    assert load_settings().subscription_id == SUB


def test_every_bad_setting_is_reported_at_once(monkeypatch):
    for name, value in {"SUBSCRIPTION_ID": "nope", "WORKSPACE_NAME": "x", "TABLE_RETENTION_DAYS": "1"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UserError) as err:
        load_settings()
    assert [line.split(":")[0] for line in str(err.value).splitlines()] == [
        "SUBSCRIPTION_ID", "WORKSPACE_NAME", "TABLE_RETENTION_DAYS"
    ]


@pytest.mark.parametrize("name, value", [
    ("VM_ID", VM.upper()),  # ARM ids are case-insensitive
    ("VM_ID", VM.replace("Sched-RG", "rg_(1).x")),
    ("VMSS_ID", f"{VMSS}, {VMSS.replace('hpc', 'htc')}"),
    ("RESOURCE_GROUP", "r" * 90),
    ("RESOURCE_GROUP", "grüppe"),  # the spec's \w: Unicode letters
    ("WORKSPACE_NAME", "logs-01"),
    ("WORKSPACE_NAME", "w" * 63),
    ("ARM_ENDPOINT", "https://management.azure.com/"),
    ("ARM_ENDPOINT", "https://127.0.0.1:8443"),
    ("ARM_ENDPOINT", "https://[::1]:65535"),
    ("METRICS_ADDRESS", "0.0.0.0"),
    ("METRICS_ADDRESS", "::"),
    ("METRICS_ADDRESS", "localhost"),
    ("METRICS_ADDRESS", "scheduler.internal.cloudapp.net"),
    ("TABLE_TOTAL_RETENTION_DAYS", "730"),
    ("TABLE_TOTAL_RETENTION_DAYS", "1095"),
    ("TABLE_TOTAL_RETENTION_DAYS", "4383"),
    ("TABLE_RETENTION_DAYS", "4"),
    ("CLUSTER_NAME", "c" * 256),
])
def test_valid_values_are_accepted(monkeypatch, name, value):
    monkeypatch.setenv("SUBSCRIPTION_ID", SUB)
    monkeypatch.setenv(name, value)
    assert load_settings()


def test_basic_plan_keeps_the_fixed_retention(monkeypatch):
    monkeypatch.setenv("TABLE_PLAN", "Basic")
    assert load_settings().table_retention_days == 30
    monkeypatch.setenv("TABLE_RETENTION_DAYS", "30")
    monkeypatch.setenv("TABLE_TOTAL_RETENTION_DAYS", "365")
    assert load_settings().table_total_retention_days == 365


def test_missing_settings_are_one_line_each():
    with pytest.raises(UserError) as err:
        load_settings().require("subscription_id", "workspace_name")
    assert str(err.value).splitlines() == [
        "SUBSCRIPTION_ID is not set: export it or add it to .env (see README, Settings)",
        "WORKSPACE_NAME is not set: export it or add it to .env (see README, Settings)",
    ]


def test_something_must_name_the_cluster(monkeypatch):
    with pytest.raises(UserError, match="set CLUSTER_NAME, or VM_ID/VMSS_ID so it can be read from their ClusterName tag"):
        load_settings().require_cluster_identity()
    for names in ({"CLUSTER_NAME": "slurm1"}, {"VM_ID": VM}, {"VMSS_ID": VMSS}, {"VMSS_RG": "rg", "VMSS_NAME": "hpc"}):
        with monkeypatch.context() as m:
            for name, value in names.items():
                m.setenv(name, value)
            load_settings(subscription_id=SUB).require_cluster_identity()


def test_the_example_env_file_is_valid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("SUBSCRIPTION_ID", "CLUSTER_NAME", "VM_ID", "VMSS_ID", "VMSS_RG", "VMSS_NAME"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text((Path(__file__).parent.parent / ".env.example").read_text())
    settings = load_settings()
    settings.require_cluster_identity()  # by VM_ID's tag: the example has no CLUSTER_NAME, as the reference's
    assert settings.subscription_id == "00000000-0000-0000-0000-000000000000" and settings.cluster_name is None
