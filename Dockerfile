# The Lifeboat worker image (docker-compose.yml, service `worker`): Prefect's own image at the
# version Lifeboat pins, with this project installed; runbooks are part of the source.
FROM prefecthq/prefect:3.8.8-python3.11
WORKDIR /opt/lifeboat
COPY pyproject.toml README.md runbook.schema.json ./
COPY lifeboat ./lifeboat
COPY checks ./checks
COPY flows ./flows
COPY runbooks ./runbooks
RUN pip install --no-cache-dir . \
    && mkdir -p /var/lib/lifeboat
ENV LIFEBOAT_HOME=/var/lib/lifeboat
CMD ["prefect", "worker", "start", "--pool", "lifeboat", "--type", "process"]
