# The controller as a container (AKS / any Kubernetes): `slurm-log-controller run`, metrics on :9480.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY config ./config
COPY controller ./controller
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/*.whl

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
# In a container the endpoints must be reachable from outside it (probes, Prometheus).
ENV METRICS_ADDRESS=0.0.0.0 \
    METRICS_PORT=9480 \
    PYTHONUNBUFFERED=1
EXPOSE 9480
USER 65532:65532
ENTRYPOINT ["slurm-log-controller"]
CMD ["run"]
