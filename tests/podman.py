"""Building and running the Dockerfile with Debian's podman, with no registry: the base image is a
debootstrap tree of Debian bookworm (from the mirror apt uses here) imported into podman, and pip
in the build uses this machine's own index, mirror and CA.

Both are cached across tests and runs: the tree's tarball under IMAGE_CACHE_DIR (default
/var/tmp/slurm-log-controller-image), the images and build layers in podman's own storage.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from tests.support import unavailable

REPO = Path(__file__).parent.parent
BASE_IMAGE = "localhost/slurm-log-controller-base:bookworm"
# One tag per test session: sessions of other checkouts on the same machine build their own.
IMAGE = f"localhost/slurm-log-controller:test-{os.getpid()}"
CACHE_DIR = Path(os.environ.get("IMAGE_CACHE_DIR", "/var/tmp/slurm-log-controller-image"))
# Debian's python3 with its venv module: what the Dockerfile needs of a base (python.org's images have both).
BASE_PACKAGES = "python3,python3-venv,ca-certificates"

# runc, not Debian's crun 1.8: crun refuses a hybrid cgroup hierarchy (v1 controllers plus a v2
# mount with a controller: "cgroups in hybrid mode not supported"), which sandboxes like this one
# have. The ulimits: podman asks for nofile 1048576 and nproc above what a process without
# CAP_SYS_RESOURCE may set; lowering them works everywhere.
PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
# pip's settings that say where packages come from; env wins over config files, as in pip.
PIP_SOURCES = ("index-url", "extra-index-url", "find-links", "cert")


def podman(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:2])} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def require_podman() -> None:
    for tool in ("podman", "runc"):
        shutil.which(tool) or unavailable(f"{tool} not installed (apt-get install podman runc, as .ci/run does)")


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def debian_mirror() -> str:
    """The first mirror apt's sources name for bookworm itself (not -security, not -updates)."""
    sources = Path("/etc/apt/sources.list.d")
    for path in [Path("/etc/apt/sources.list"), *sorted(sources.glob("*.sources")), *sorted(sources.glob("*.list"))]:
        text = path.read_text() if path.is_file() else ""
        for stanza in text.split("\n\n"):  # deb822: URIs and Suites in one stanza
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:(.*)$", stanza, re.M)
            if uris and suites and "bookworm" in suites.group(1).split():
                return uris.group(1)
        for line in text.splitlines():  # one-line format: deb [opts] URI suite components
            fields = re.sub(r"\[[^]]*\]", "", line).split()
            if len(fields) >= 3 and fields[0] == "deb" and fields[2] == "bookworm":
                return fields[1]
    return "http://deb.debian.org/debian"


def local_base() -> str:
    """The base image, imported from the cached debootstrap tarball; debootstrap makes it once."""
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    tarball = CACHE_DIR / "debian-bookworm-minbase.tar"
    if not tarball.exists():
        debootstrap = shutil.which("debootstrap") or unavailable("debootstrap not installed")
        os.geteuid() == 0 or unavailable("debootstrap needs root")
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tree:
            subprocess.run([debootstrap, "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", tree,
                            debian_mirror()], check=True, capture_output=True, timeout=900)
            # apt's downloads and lists, as Debian's own images leave them out
            for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
                shutil.rmtree(Path(tree, cache))
            partial = tarball.with_suffix(".partial")
            subprocess.run(["tar", "-C", tree, "-cf", partial, "."], check=True, timeout=300)
            partial.rename(tarball)
    podman("import", str(tarball), BASE_IMAGE)
    return BASE_IMAGE


def pip_sources() -> dict[str, str]:
    """This machine's pip settings for where packages come from: ``{"extra-index-url": "...", ...}``."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            check=True).stdout
    found: dict[str, tuple[bool, str]] = {}
    for line in listed.splitlines():
        scope_key, _, value = line.partition("=")
        scope, _, key = scope_key.rpartition(".")
        from_env = scope == ":env:"
        if key in PIP_SOURCES and (from_env or not found.get(key, (False,))[0]):
            found[key] = (from_env, ast.literal_eval(value))
    return {key: value for key, (_, value) in found.items()}


def local_paths(key: str, value: str) -> list[str]:
    """The files and directories a pip setting points at: ``file://`` URLs and plain paths; for a
    local index, its parent, where a mirror keeps the files its ``simple/`` pages link to."""
    paths = []
    for item in value.split():
        path = urlparse(item).path if item.startswith("file://") else item
        if key.endswith("index-url"):
            path = os.path.dirname(path.rstrip("/"))
        if path.startswith("/") and os.path.exists(path):
            paths.append(path)
    return paths


def build_image(version: str) -> str:
    """Build the Dockerfile on the local base; pip's sources go in as build arguments (the build
    stage's environment) with their local files mounted read-only, so none of it is in a layer."""
    base = local_base()
    pip_args, mounts = [], []
    for key, value in pip_sources().items():
        pip_args += ["--build-arg", f"PIP_{key.upper().replace('-', '_')}={value}"]
        mounts += [arg for path in local_paths(key, value) for arg in ("--volume", f"{path}:{path}:ro")]
    podman("build", "--format", "docker",  # docker format: OCI images have no HEALTHCHECK
           "--network", "host", *LIMITS, *mounts, *pip_args,
           "--build-arg", f"BASE_IMAGE={base}", "--build-arg", f"VERSION={version}",
           "--tag", IMAGE, str(REPO), timeout=1200)
    return IMAGE
