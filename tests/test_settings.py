"""Settings: the seed's names, derived values, and clouds (pure)."""

import pytest

from controller.errors import UserError
from controller.settings import load_settings

SUB = "00000000-0000-0000-0000-000000000000"
VM = f"/subscriptions/{SUB}/resourceGroups/Sched-RG/providers/Microsoft.Compute/virtualMachines/scheduler"
VMSS = f"/subscriptions/{SUB}/resourceGroups/nodes-rg/providers/Microsoft.Compute/virtualMachineScaleSets/hpc"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("SUBSCRIPTION_ID", "RESOURCE_GROUP", "VM_ID", "VMSS_ID", "VMSS_RG", "VMSS_NAME",
                 "CLUSTER_RESOURCE_GROUPS", "AZURE_CLOUD", "ARM_ENDPOINT", "WORKSPACE_RESOURCE_GROUP",
                 "CLUSTER_NAME", "WORKSPACE_NAME"):
        monkeypatch.delenv(name, raising=False)


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
