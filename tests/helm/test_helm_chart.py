"""The Helm chart in charts/slurm-log-controller: lint, render, and check what it renders.

No helm binary: `helm-python-sdk` is Helm v4 as a library (lint and offline render), and
`kubernetes-validate` checks the rendered objects against the Kubernetes 1.30 schema (strict: an
unknown field fails). Without either package the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import pathlib

import pytest
import yaml

from controller.settings import Settings, load_settings
from tests.support import unavailable

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "slurm-log-controller"
ALERTS = ROOT / "config" / "alerts.yaml"
KUBE_VERSION = "1.30.0"
ZERO = "00000000-0000-0000-0000-000000000000"
REQUIRED = {
    "subscriptionId": ZERO,
    "resourceGroup": "slurm-rg",
    "workspaceName": "slurm-logs",
    "clusterName": "slurm1",
}
# Settings the chart sets itself (METRICS_*, MCP_ADDRESS/PORT) or that only the offline `render` command uses.
NOT_VALUES = {"metrics_address", "metrics_port", "region", "mcp_address", "mcp_port"}


def _helm():
    try:
        import helm_python
    except ImportError:
        unavailable("helm-python-sdk not installed (pip install helm-python-sdk)")
    return helm_python


def _kubernetes_validate():
    try:
        import kubernetes_validate
    except ImportError:
        unavailable("kubernetes-validate not installed (pip install kubernetes-validate)")
    return kubernetes_validate


@pytest.fixture(scope="module")
def chart():
    helm = _helm()
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def render(chart, values=None, *, settings=None) -> dict[tuple[str, str], dict]:
    """Render with the required settings (plus `settings`) and `values`; objects by (kind, name)."""
    values = dict(values or {})
    values["settings"] = {**REQUIRED, **(settings or {})}
    manifests = chart.render(values, name="slc", namespace="slurm-log-controller")
    objects = {}
    for path, text in manifests.items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def one(objects, kind) -> dict:
    found = [obj for (k, _), obj in objects.items() if k == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}: {sorted(objects)}"
    return found[0]


def container(objects) -> dict:
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def test_missing_packages_make_the_tests_unavailable(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_helm(name, *args, **kwargs):
        if name == "helm_python":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_helm)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        _helm()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        _helm()


def test_lint_passes():
    helm = _helm()
    for values in ({"settings": REQUIRED}, {
        "settings": REQUIRED,
        "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    }, {"settings": REQUIRED, "mode": "cronjob"}):
        report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE_VERSION}")
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert not report["errors"] and not problems, report


def test_default_render_gives_the_objects_and_they_validate(chart):
    validate = _kubernetes_validate()
    objects = render(chart)
    assert sorted(kind for kind, _ in objects) == ["ConfigMap", "Deployment", "Service", "ServiceAccount"]
    for obj in objects.values():
        validate.validate(obj, KUBE_VERSION, strict=True)


def test_everything_enabled_validates(chart):
    validate = _kubernetes_validate()
    objects = render(chart, {
        "extraEnv": [{"name": "AZURE_LOG_LEVEL", "value": "warning"}],
        "components": "components: []\n",
        "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
        "azure": {"clientId": ZERO, "tenantId": ZERO},
    })
    for obj in objects.values():
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # CRDs: no schema in kubernetes-validate; checked below
        validate.validate(obj, KUBE_VERSION, strict=True)
    args = container(objects)["args"]
    assert args == ["run", "--config", "/etc/slurm-log-controller/components.yaml"]


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_required_setting_fails_naming_it(chart, missing):
    helm = _helm()
    settings = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(helm.HelmError) as caught:
        chart.render({"settings": settings}, name="slc", namespace="default")
    assert f"settings.{missing} is required" in str(caught.value)


def test_the_cluster_name_may_come_from_the_vm_id_tag(chart):
    vm = f"/subscriptions/{ZERO}/resourceGroups/cc/providers/Microsoft.Compute/virtualMachines/scheduler"
    data = one(render(chart, settings={"clusterName": "", "vmId": vm}), "ConfigMap")["data"]
    assert "CLUSTER_NAME" not in data and data["VM_ID"] == vm


def _every_setting() -> dict:
    """A valid value for every key of values.yaml's settings."""
    return {
        **REQUIRED,
        "workspaceResourceGroup": "logs-rg",
        "vmId": f"/subscriptions/{ZERO}/resourceGroups/cc/providers/Microsoft.Compute/virtualMachines/scheduler",
        "schedulerNodeName": "head",
        "vmssId": [
            f"/subscriptions/{ZERO}/resourceGroups/cc/providers/Microsoft.Compute/virtualMachineScaleSets/a",
            f"/subscriptions/{ZERO}/resourceGroups/cc/providers/Microsoft.Compute/virtualMachineScaleSets/b",
        ],
        "vmssRg": "cc",
        "vmssName": "c",
        "clusterResourceGroups": ["cc", "cc2"],
        "policy": "sync",
        "dcrLayout": "per-role",
        "allowTableDelete": False,
        "installAgent": True,
        "upgradeInstances": False,
        "adopt": ["unowned", "cluster:old"],
        "tablePlan": "Basic",
        "tableRetentionDays": 30,  # Basic tables: fixed at 30 days
        "tableTotalRetentionDays": 365,
        "parsedTablePlan": "Analytics",
        "parsedTableRetentionDays": 90,
        "parsedTableTotalRetentionDays": 730,
        "azureCloud": "AzureUSGovernment",
        "armEndpoint": "https://management.usgovcloudapi.net",
        "applyConcurrency": 8,
        "reconcileInterval": 60,
        "reconcileJitter": 0.2,
        "armWriteBurst": 1000000,
        "armWritesPerSecond": 5,
        "armReadBurst": 120,
        "armReadsPerSecond": 12.5,
        "logFormat": "json",
        "httpConnectTimeout": 5,
        "httpReadTimeout": 30.5,
        "armDeleteBurst": 100,
        "armDeletesPerSecond": 2.5,
        "logsEndpoint": "https://api.loganalytics.us",
        "mcpAuth": "entra",
        "mcpTenantId": ZERO,
        "mcpAudience": "api://slurm-logs-mcp",
        "mcpRequiredScope": "Logs.Read",
        "mcpJwksUrl": f"https://login.microsoftonline.us/{ZERO}/discovery/v2.0/keys",
        "mcpIssuers": [f"https://login.microsoftonline.us/{ZERO}/v2.0"],
        "mcpAllowedHosts": ["mcp.example.org:443", "slc-mcp:8480"],
        "mcpAllowedOrigins": ["https://vscode.dev"],
        "mcpPublicUrl": "https://mcp.example.org/mcp",
        "mcpMaxRows": 200,
        "freshnessInterval": 600,
    }


def test_values_cover_every_setting_a_pod_needs():
    settings = yaml.safe_load((CHART / "values.yaml").read_text())["settings"]
    assert set(settings) == set(_every_setting())
    snake = {"".join("_" + c.lower() if c.isupper() else c for c in key) for key in settings}
    assert snake == set(Settings.model_fields) - NOT_VALUES


def test_configmap_has_the_env_names_the_controller_reads(chart, monkeypatch, tmp_path):
    objects = render(chart, settings=_every_setting())
    data = one(objects, "ConfigMap")["data"]
    unknown = {key for key in data if key.lower() not in Settings.model_fields}
    assert not unknown, f"ConfigMap keys that are no setting of the controller: {unknown}"
    assert all(key == key.upper() for key in data)
    assert len(data) == len(_every_setting()) + 2
    assert data["METRICS_ADDRESS"] == "0.0.0.0" and data["METRICS_PORT"] == "9480"
    assert data["ARM_WRITE_BURST"] == "1000000"  # not 1e+06
    assert data["VMSS_ID"].count(",") == 1 and data["CLUSTER_RESOURCE_GROUPS"] == "cc,cc2"

    # the controller itself accepts the ConfigMap as its environment
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in data.items():
        monkeypatch.setenv(name, value)
    loaded = load_settings()
    assert loaded.subscription_id == ZERO and loaded.policy.value == "sync"
    assert loaded.vmss_id and len(loaded.vmss_id) == 2
    assert loaded.reconcile_interval == 60 and loaded.arm_reads_per_second == 12.5
    assert loaded.metrics_address == "0.0.0.0" and loaded.metrics_port == 9480

    # unset settings are left out, so the controller's defaults apply
    minimal = one(render(chart), "ConfigMap")["data"]
    assert set(minimal) == {"SUBSCRIPTION_ID", "RESOURCE_GROUP", "WORKSPACE_NAME", "CLUSTER_NAME",
                            "METRICS_ADDRESS", "METRICS_PORT"}


def test_a_misspelled_setting_is_refused(chart):
    helm = _helm()
    with pytest.raises(helm.HelmError, match="polcy"):
        chart.render({"settings": {**REQUIRED, "polcy": "sync"}}, name="slc")


def test_deployment(chart):
    objects = render(chart)
    deployment = one(objects, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 120
    c = container(objects)
    assert c["image"] == "ghcr.io/example/slurm-log-controller:0.1.0"  # appVersion
    assert c["args"] == ["run"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9480, "protocol": "TCP"}]
    assert c["envFrom"] == [{"configMapRef": {"name": one(objects, "ConfigMap")["metadata"]["name"]}}]
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                              "limits": {"cpu": "500m", "memory": "256Mi"}}
    service = one(objects, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9480, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()


def test_more_than_one_replica_is_refused(chart):
    helm = _helm()
    with pytest.raises(helm.HelmError, match="replicaCount"):
        chart.render({"settings": REQUIRED, "replicaCount": 2}, name="slc")
    objects = render(chart, {"replicaCount": 0})  # 0 pauses it
    assert one(objects, "Deployment")["spec"]["replicas"] == 0


def test_probes_use_the_metrics_port(chart):
    c = container(render(chart))
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    # /healthz itself waits out the back-off; the probe must not restart on one slow answer
    liveness = c["livenessProbe"]
    assert liveness["failureThreshold"] * liveness["periodSeconds"] >= 60


def test_security_context(chart):
    objects = render(chart)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container(objects)["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}


def test_workload_identity(chart):
    objects = render(chart, {"azure": {"clientId": ZERO, "tenantId": ZERO}})
    account = one(objects, "ServiceAccount")
    assert account["metadata"]["annotations"] == {
        "azure.workload.identity/client-id": ZERO,
        "azure.workload.identity/tenant-id": ZERO,
    }
    pod = one(objects, "Deployment")["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_extra_env(chart):
    extra = [{"name": "AZURE_LOG_LEVEL", "value": "warning"},
             {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    assert container(render(chart, {"extraEnv": extra}))["env"] == extra


def test_alerts_file_is_a_symlink_to_the_repositorys():
    link = CHART / "files" / "alerts.yaml"
    assert link.is_symlink() and link.resolve() == ALERTS.resolve()


def _rule_groups(objects) -> list:
    return one(objects, "PrometheusRule")["spec"]["groups"]


def test_prometheus_rule_is_config_alerts_yaml(chart):
    assert not any(kind == "PrometheusRule" for kind, _ in render(chart))
    objects = render(chart, {"metrics": {"prometheusRule": {"enabled": True, "labels": {"release": "kps"}}}})
    rule = one(objects, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert set(rule["spec"]) == {"groups"}
    expected = yaml.safe_load(ALERTS.read_text())["groups"]
    assert _rule_groups(objects) == expected
    # Prometheus' templates reach it unchanged (not eaten by Go templating)
    annotations = [r["annotations"] for g in _rule_groups(objects) for r in g["rules"]]
    assert any("{{ $labels.kind }}" in a["summary"] for a in annotations)
    assert any('{{ $value | printf "%.0f" }}' in a["description"] for a in annotations)


def test_packaged_chart_carries_the_rules(tmp_path):
    """`helm package` follows the symlink: the archive holds the rules themselves."""
    helm = _helm()
    archive = helm.package(CHART, destination=tmp_path)
    with helm.Chart.load(archive) as packaged:
        objects = render(packaged, {"metrics": {"prometheusRule": {"enabled": True}}})
    assert _rule_groups(objects) == yaml.safe_load(ALERTS.read_text())["groups"]


def test_service_monitor(chart):
    assert not any(kind == "ServiceMonitor" for kind, _ in render(chart))
    objects = render(chart, {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}}})
    monitor = one(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    service = one(objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["slurm-log-controller"]}


def test_notes_say_how_to_check_it(chart):
    notes = chart.render({"settings": REQUIRED}, name="slc", namespace="ns")
    text = next(v for k, v in notes.items() if k.endswith("NOTES.txt"))
    assert "kubectl -n ns logs deploy/slc-slurm-log-controller" in text
    assert "port-forward svc/slc-slurm-log-controller 9480:9480" in text
    assert "/metrics" in text
    assert "exec deploy/slc-slurm-log-controller -- slurm-log-controller plan" in text
    assert "azure.clientId is empty" in text


MCP_SETTINGS = {"mcpTenantId": ZERO, "mcpAudience": "api://slurm-logs-mcp", "mcpAllowedHosts": ["slc-mcp:8480"]}


def test_the_mcp_server_beside_the_controller(chart):
    validate = _kubernetes_validate()
    objects = render(chart, {"mcp": {"enabled": True}, "components": "components: []\n"}, settings=MCP_SETTINGS)
    for obj in objects.values():
        validate.validate(obj, KUBE_VERSION, strict=True)
    controller, mcp = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert controller["args"][0] == "run"
    assert mcp["args"] == ["mcp", "--transport", "http", "--config", "/etc/slurm-log-controller/components.yaml"]
    assert mcp["env"] == [{"name": "MCP_ADDRESS", "value": "0.0.0.0"}, {"name": "MCP_PORT", "value": "8480"}]
    assert mcp["envFrom"] == controller["envFrom"] and mcp["securityContext"] == controller["securityContext"]
    assert mcp["ports"] == [{"name": "mcp", "containerPort": 8480, "protocol": "TCP"}]
    service = objects[("Service", "slc-slurm-log-controller-mcp")]
    assert service["spec"]["ports"] == [{"name": "mcp", "port": 8480, "targetPort": "mcp", "protocol": "TCP"}]
    data = objects[("ConfigMap", "slc-slurm-log-controller")]["data"]
    assert data["MCP_TENANT_ID"] == ZERO and data["MCP_ALLOWED_HOSTS"] == "slc-mcp:8480"


def test_the_mcp_server_is_off_by_default(chart):
    containers = one(render(chart), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["controller"]


@pytest.mark.parametrize("settings, says", [
    ({}, "mcp.enabled needs settings.mcpTenantId, mcpAudience"),
    ({**MCP_SETTINGS, "mcpAuth": "local-only"}, "local-only listens on loopback"),
])
def test_an_open_mcp_server_is_refused(chart, settings, says):
    with pytest.raises(Exception, match=says):
        render(chart, {"mcp": {"enabled": True}}, settings=settings)


def test_the_mcp_server_needs_the_daemon(chart):
    with pytest.raises(Exception, match="mcp.enabled with mode cronjob"):
        render(chart, {"mcp": {"enabled": True}, "mode": "cronjob", "cronjob": {"schedule": "*/5 * * * *"}},
               settings=MCP_SETTINGS)


def cronjob_pod(objects) -> dict:
    return one(objects, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]


def test_cronjob_mode_runs_one_pass_per_schedule_and_validates(chart):
    validate = _kubernetes_validate()
    objects = render(chart, {"mode": "cronjob", "cronjob": {"schedule": "*/5 * * * *", "timeZone": "Europe/Berlin"},
                             "azure": {"clientId": ZERO}})
    assert sorted(kind for kind, _ in objects) == ["ConfigMap", "CronJob", "ServiceAccount"]  # nothing to scrape
    for obj in objects.values():
        validate.validate(obj, KUBE_VERSION, strict=True)
    spec = one(objects, "CronJob")["spec"]
    assert spec["schedule"] == "*/5 * * * *" and spec["timeZone"] == "Europe/Berlin"
    assert spec["concurrencyPolicy"] == "Forbid"  # one controller at a time
    assert spec["suspend"] is False and spec["jobTemplate"]["spec"]["backoffLimit"] == 0
    pod = cronjob_pod(objects)
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    c = pod["spec"]["containers"][0]
    assert c["args"] == ["run", "--once"]
    assert not {"ports", "livenessProbe", "readinessProbe"} & set(c)
    daemon = container(render(chart))  # the same container otherwise
    assert {k: v for k, v in c.items() if k != "args"} == {
        k: v for k, v in daemon.items() if k not in ("args", "ports", "livenessProbe", "readinessProbe")}


def test_cronjob_mode_pauses_with_zero_replicas_and_takes_the_components_file(chart):
    objects = render(chart, {"mode": "cronjob", "replicaCount": 0, "components": "components: []\n"})
    assert one(objects, "CronJob")["spec"]["suspend"] is True
    args = cronjob_pod(objects)["spec"]["containers"][0]["args"]
    assert args == ["run", "--once", "--config", "/etc/slurm-log-controller/components.yaml"]


@pytest.mark.parametrize("enabled", ["serviceMonitor", "prometheusRule"])
def test_cronjob_mode_refuses_what_needs_metrics(chart, enabled):
    helm = _helm()
    with pytest.raises(helm.HelmError, match="metrics.serviceMonitor and metrics.prometheusRule need mode daemon"):
        chart.render({"settings": REQUIRED, "mode": "cronjob", "metrics": {enabled: {"enabled": True}}}, name="slc")


def test_an_unknown_mode_is_refused(chart):
    helm = _helm()
    with pytest.raises(helm.HelmError, match="mode"):
        chart.render({"settings": REQUIRED, "mode": "cron"}, name="slc")


def test_image_tag_defaults_to_the_charts_app_version(chart):
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    for mode in ("daemon", "cronjob"):
        objects = render(chart, {"mode": mode})
        pod = one(objects, "Deployment")["spec"]["template"] if mode == "daemon" else cronjob_pod(objects)
        assert pod["spec"]["containers"][0]["image"] == f"ghcr.io/example/slurm-log-controller:{app_version}"
    assert container(render(chart, {"image": {"tag": "1.2.3"}}))["image"].endswith(":1.2.3")


def test_notes_in_cronjob_mode_say_how_to_run_a_pass_now(chart):
    notes = chart.render({"settings": REQUIRED, "mode": "cronjob"}, name="slc", namespace="ns")
    text = next(v for k, v in notes.items() if k.endswith("NOTES.txt"))
    assert "create job --from=cronjob/slc-slurm-log-controller slc-slurm-log-controller-now" in text
    assert "logs job/slc-slurm-log-controller-now" in text
    assert "deploy/" not in text and "port-forward" not in text
