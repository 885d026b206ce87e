"""The shipped config and the naming template of the reference document."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from controller import components
from controller.cli import main
from controller.components import Role, default_config_path, load_components
from controller.errors import UserError
from tests.support import SUB

# component -> (table, DCR, roles) from the reference document's table; the seed's shared ones also
# go to login nodes (a role the seed doesn't name: CycleCloud's template has a login nodearray).
SEED = {
    "slurmctld": ("slurmctld_raw_CL", "slurmctld_raw_dcr", {"scheduler"}),
    "slurmd": ("slurmd_raw_CL", "slurmd_raw_dcr", {"nodes"}),
    "slurmdb": ("slurmdb_raw_CL", "slurmdb_raw_dcr", {"scheduler"}),
    "slurmrestd": ("slurmrestd_raw_CL", "slurmrestd_raw_dcr", {"scheduler"}),
    "slurmjobs": ("slurmjobs_raw_CL", "slurmjobs_raw_dcr", {"scheduler"}),
    "jetpack": ("jetpack_raw_CL", "jetpack_raw_dcr", {"scheduler", "login", "nodes"}),
    "jetpackd": ("jetpackd_raw_CL", "jetpackd_raw_dcr", {"scheduler", "login", "nodes"}),
    "healthagent": ("healthagent_raw_CL", "healthagent_raw_dcr", {"scheduler"}),
    "dmesg": ("dmesg_raw_CL", "dmesg_raw_dcr", {"nodes"}),
    "syslog": ("syslog_raw_CL", "syslog_raw_dcr", {"scheduler", "login", "nodes"}),
}


def test_shipped_config_matches_the_reference_table():
    by_pattern = {c.pattern: c for c in load_components(default_config_path())}
    assert set(by_pattern) == set(SEED)
    for pattern, (table, rule, roles) in SEED.items():
        c = by_pattern[pattern]
        assert (c.table, c.rule, {r.value for r in c.roles}) == (table, rule, roles)
        assert c.input_stream == f"Custom-Text-{pattern}_raw_CL"
        assert c.output_stream == f"Custom-{table}"


def test_shipped_config_file_patterns():
    by_pattern = {c.pattern: c for c in load_components(default_config_path())}
    # the archive's default layout is collectable: a wildcard in the file name only
    assert by_pattern["slurmjobs"].files == ("/shared/slurm-logs/job_*",)
    assert not any(c.directory_wildcards() for c in by_pattern.values())
    assert "/var/log/messages" in by_pattern["syslog"].files  # RHEL / AlmaLinux
    assert set(by_pattern["slurmctld"].files) == {"/var/log/slurmctld/slurmctld.log", "/var/log/slurm/slurmctld.log"}
    assert by_pattern["slurmdb"].files[0] == "/var/log/slurmctld/slurmdbd.log"


def _write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_pattern_is_derived_from_the_log_name(tmp_path):
    (c,) = load_components(_write(tmp_path, "components:\n- {group: os, files: [/var/log/foo.log], roles: [nodes]}\n"))
    assert (c.pattern, c.table, c.roles) == ("foo", "foo_raw_CL", frozenset({Role.NODES}))


@pytest.mark.parametrize(
    "text, words",
    [
        ("components:\n- {group: os, files: ['/x/*/*'], roles: [nodes]}\n", ["pattern", "'*'"]),
        ("components:\n- {group: os, files: [/x/a.log], roles: [compute]}\n", ["roles", "scheduler", "login", "nodes"]),
        ("components:\n- {group: db, files: [/x/a.log], roles: [nodes]}\n", ["group"]),
        ("components:\n- {group: os, files: [x/a.log], roles: [nodes]}\n", ["files", "absolute"]),
        ("components:\n- {group: os, files: [/x/a.log], roles: [nodes], colour: red}\n", ["colour"]),
        (
            "components:\n- {group: os, files: [/x/a.log], roles: [nodes]}\n- {group: os, files: [/y/a.log], roles: [nodes]}\n",
            ["components[1]", "pattern 'a'", "components[0]"],
        ),
        ("components: [\n", ["YAML"]),
    ],
)
def test_bad_config_names_the_field(tmp_path, text, words):
    with pytest.raises(UserError) as err:
        load_components(_write(tmp_path, text))
    for word in words:
        assert word in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(UserError, match="--config"):
        load_components(tmp_path / "nope.yaml")


# ---- which file is read ----------------------------------------------------------------------

GOOD = "components:\n- {group: os, files: [/var/log/%s.log], roles: [nodes]}\n"


@pytest.fixture
def places(tmp_path, monkeypatch):
    """An empty working directory, a fake /etc, and the settings validate needs (it reads no Azure)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(components, "SYSTEM_CONFIG", tmp_path / "etc" / "components.yaml")
    monkeypatch.delenv(components.CONFIG_ENV_VAR, raising=False)
    for name, value in {"SUBSCRIPTION_ID": SUB, "RESOURCE_GROUP": "rg", "WORKSPACE_NAME": "logs", "CLUSTER_NAME": "c1"}.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def _put(path, pattern):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(GOOD % pattern)
    return path


def _validated(capsys, *argv):
    assert main(["validate", *argv]) == 0
    out = capsys.readouterr().out
    return out.splitlines()[0], out


def test_config_search_order(places, monkeypatch, capsys):
    line, out = _validated(capsys)
    assert line.startswith(f"config:       {default_config_path()} (the packaged default; --config and ")
    assert "slurmctld_raw_CL" in out

    _put(components.SYSTEM_CONFIG, "from_etc")
    line, out = _validated(capsys)
    assert line == (f"config:       {components.SYSTEM_CONFIG} (found at {components.SYSTEM_CONFIG}; "
                    "--config and SLURM_LOG_CONTROLLER_CONFIG not given)")
    assert "from_etc_raw_CL" in out

    checkout = _put(places / "work" / "config" / "components.yaml", "from_checkout")
    line, out = _validated(capsys)
    assert line.startswith(f"config:       {checkout} (found at ./config/components.yaml in the working directory")
    assert "from_checkout_raw_CL" in out

    monkeypatch.setenv("SLURM_LOG_CONTROLLER_CONFIG", str(_put(places / "env.yaml", "from_env")))
    line, out = _validated(capsys)
    assert "(from SLURM_LOG_CONTROLLER_CONFIG; --config not given)" in line and "from_env_raw_CL" in out

    line, out = _validated(capsys, "--config", str(_put(places / "given.yaml", "given")))
    assert "(given with --config)" in line and "given_raw_CL" in out


def test_an_empty_config_variable_means_unset(places, monkeypatch, capsys):
    monkeypatch.setenv("SLURM_LOG_CONTROLLER_CONFIG", "")
    assert "the packaged default" in _validated(capsys)[0]


def test_the_packaged_default_is_the_checkouts_config():
    assert default_config_path().resolve() == (Path(__file__).parent.parent / "config" / "components.yaml").resolve()


def test_validate_without_cluster_name_says_where_it_comes_from(places, monkeypatch, capsys):
    monkeypatch.delenv("CLUSTER_NAME")
    monkeypatch.setenv("VM_ID", f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/s")
    out = _validated(capsys)[1]
    assert "cluster:      (read by plan/run from the ClusterName tag of the VM_ID/VMSS_ID machines)" in out
    monkeypatch.delenv("VM_ID")
    assert main(["validate"]) == 2
    assert "set CLUSTER_NAME, or VM_ID/VMSS_ID so it can be read from their ClusterName tag" in capsys.readouterr().err


@pytest.mark.parametrize("unbuffered", ["", "1"])  # buffered, stdout fails at the last flush; unbuffered, at a print
def test_validate_into_a_closed_pipe_is_quiet(places, unbuffered):
    """`validate | head -1`, made deterministic: the reader is gone before the first write."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [sys.executable, "-m", "controller.cli", "validate"], stdout=write_end, stderr=subprocess.PIPE, text=True,
        cwd=places / "work", env={**env, "PYTHONUNBUFFERED": unbuffered, "PYTHONPATH": str(Path(__file__).parent.parent)},
        timeout=60,
    )
    os.close(write_end)
    assert done.stderr == "" and done.returncode == 1


def test_switched_off_components_are_checked_but_not_collected(tmp_path):
    from controller.components import load_config

    config = load_config(default_config_path())
    assert set(config.switched_off) == {"waagent", "cloudinit", "azure_slurm_install", "azurehpc_slurm", "healthagent_install", "slurm_job_archive"}
    assert not set(config.switched_off) & {c.pattern for c in config.components}
    text = "components:\n- {group: os, files: [/var/log/a.log], roles: [nodes], enabled: false}\n"
    with pytest.raises(UserError, match="every component is switched off"):
        load_config(_write(tmp_path, text))
    with pytest.raises(UserError, match=r"components\[0\]\.enabled: 'no' is not true or false"):
        load_config(_write(tmp_path, text.replace("false", "'no'")))


def test_nodearray_roles_default_to_cyclecloud_template_and_can_be_extended(tmp_path):
    from controller.components import load_config

    assert load_config(default_config_path()).nodearray_roles == {"scheduler-ha": Role.SCHEDULER, "login": Role.LOGIN}
    text = "nodearrays: {viz: login}\ncomponents:\n- {group: os, files: [/var/log/a.log], roles: [nodes]}\n"
    assert load_config(_write(tmp_path, text)).nodearray_roles["viz"] is Role.LOGIN
    with pytest.raises(UserError, match=r"nodearrays\.viz: 'desktop' is not one of scheduler, login, nodes"):
        load_config(_write(tmp_path, text.replace("viz: login", "viz: desktop")))


@pytest.mark.parametrize("archive, files, error", [
    ("{root: /shared/slurm-logs, layout: flat}", ("/shared/slurm-logs/job_*",), None),
    ("{root: /archive/, layout: per-user}", ("/archive/*/*",), None),
    ("{}", ("/shared/slurm-logs/job_*",), None),
    ("{layout: nested}", None, "archive.layout: 'nested' is not one of flat, per-user"),
    ("{root: relative}", None, "archive.root: 'relative' is not a folder"),
    ("/shared", None, "archive: must be a mapping"),
])
def test_the_job_archive_files_follow_its_layout(tmp_path, archive, files, error):
    text = f"components:\n- {{pattern: slurmjobs, group: slurm, archive: {archive}, roles: [scheduler]}}\n"
    if error:
        with pytest.raises(UserError, match=re.escape(error)):
            load_components(_write(tmp_path, text))
        return
    (c,) = load_components(_write(tmp_path, text))
    assert c.files == files
    assert c.directory_wildcards() == (["/archive/*/*"] if "per-user" in archive else [])


def test_files_and_archive_exclude_each_other(tmp_path):
    text = "components:\n- {pattern: j, group: slurm, files: [/a.log], archive: {}, roles: [scheduler]}\n"
    with pytest.raises(UserError, match="not both"):
        load_components(_write(tmp_path, text))


def test_a_wildcard_in_a_directory_is_warned_about(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, value in {"SUBSCRIPTION_ID": SUB, "RESOURCE_GROUP": "rg", "WORKSPACE_NAME": "logs", "CLUSTER_NAME": "c"}.items():
        monkeypatch.setenv(name, value)
    path = _write(tmp_path, "components:\n- {group: os, files: ['/var/log/*/app.log', '/var/log/b*.log'], roles: [nodes]}\n")
    assert main(["validate", "--config", str(path)]) == 0
    err = capsys.readouterr().err
    assert "warning: app_raw_dcr watches /var/log/*/app.log: a wildcard in a directory" in err
    assert "b*.log" not in err
