"""The shipped config and the naming template of the reference document."""

import pytest

from controller.components import Role, load_components
from controller.errors import UserError

# component -> (table, DCR, roles) from the reference document's table.
SEED = {
    "slurmctld": ("slurmctld_raw_CL", "slurmctld_raw_dcr", {"scheduler"}),
    "slurmd": ("slurmd_raw_CL", "slurmd_raw_dcr", {"nodes"}),
    "slurmdb": ("slurmdb_raw_CL", "slurmdb_raw_dcr", {"scheduler"}),
    "slurmrestd": ("slurmrestd_raw_CL", "slurmrestd_raw_dcr", {"scheduler"}),
    "slurmjobs": ("slurmjobs_raw_CL", "slurmjobs_raw_dcr", {"scheduler"}),
    "jetpack": ("jetpack_raw_CL", "jetpack_raw_dcr", {"scheduler", "nodes"}),
    "jetpackd": ("jetpackd_raw_CL", "jetpackd_raw_dcr", {"scheduler", "nodes"}),
    "healthagent": ("healthagent_raw_CL", "healthagent_raw_dcr", {"scheduler"}),
    "dmesg": ("dmesg_raw_CL", "dmesg_raw_dcr", {"nodes"}),
    "syslog": ("syslog_raw_CL", "syslog_raw_dcr", {"scheduler", "nodes"}),
}


def test_shipped_config_matches_the_reference_table():
    components = {c.pattern: c for c in load_components()}
    assert set(components) == set(SEED)
    for pattern, (table, rule, roles) in SEED.items():
        c = components[pattern]
        assert (c.table, c.rule, {r.value for r in c.roles}) == (table, rule, roles)
        assert c.input_stream == f"Custom-Text-{pattern}_raw_CL"
        assert c.output_stream == f"Custom-{table}"


def test_shipped_config_file_patterns():
    components = {c.pattern: c for c in load_components()}
    assert components["slurmjobs"].files == ("/shared/slurm-logs/*/*",)
    assert "/var/log/messages" in components["syslog"].files  # RHEL / AlmaLinux
    assert set(components["slurmctld"].files) == {"/var/log/slurmctld/slurmctld.log", "/var/log/slurm/slurmctld.log"}
    assert components["slurmdb"].files[0] == "/var/log/slurmctld/slurmdbd.log"


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
        ("components:\n- {group: os, files: [/x/a.log], roles: [login]}\n", ["roles", "scheduler", "nodes"]),
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
