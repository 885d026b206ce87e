# The controller as a container (AKS / any Kubernetes): `slurm-log-controller run`, metrics on :9480.
# BASE_IMAGE: any image with Debian's or python.org's python3 >= 3.11 and its venv module (the test
# builds on a debootstrap tree, having no registry).
ARG BASE_IMAGE=docker.io/library/python:3.11-slim

FROM ${BASE_IMAGE} AS build
# pip's index, mirror and CA of the machine that builds: this stage's environment only, never a
# layer of the image.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_CERT
WORKDIR /src
COPY pyproject.toml ./
# The dependencies and the build backend in a layer of their own: a change to the code fetches
# nothing again.
RUN python3 -m venv /opt/slurm-log-controller \
    && python3 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(p['build-system']['requires'] + p['project']['dependencies']))" > requirements.txt \
    && /opt/slurm-log-controller/bin/pip install --no-cache-dir --disable-pip-version-check --requirement requirements.txt
COPY README.md ./
COPY config ./config
COPY controller ./controller
RUN /opt/slurm-log-controller/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation . \
    && /opt/slurm-log-controller/bin/pip uninstall --yes pip setuptools

FROM ${BASE_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="slurm-log-controller" \
      org.opencontainers.image.description="Reconciling controller that ships CycleCloud Slurm cluster logs to Azure Monitor (Log Analytics)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
# The base's own installers have no use at run time: pip (python.org images) and ensurepip's wheels
# (Debian's python3-venv).
RUN if python3 -m pip --version >/dev/null 2>&1; then python3 -m pip uninstall --yes pip setuptools wheel; fi \
    && rm -rf /usr/share/python-wheels /root/.cache
COPY --from=build /opt/slurm-log-controller /opt/slurm-log-controller
# In a container the endpoints must be reachable from outside it (probes, Prometheus).
ENV PATH=/opt/slurm-log-controller/bin:$PATH \
    METRICS_ADDRESS=0.0.0.0 \
    METRICS_PORT=9480 \
    PYTHONUNBUFFERED=1
EXPOSE 9480
# The daemon's own liveness verdict (/healthz: 503 when the loop is stuck); Kubernetes uses the
# chart's probes instead. Not for `run --once`, which serves nothing.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['METRICS_PORT']}/healthz\", timeout=4)"]
USER 65532:65532
ENTRYPOINT ["slurm-log-controller"]
CMD ["run"]
