# The Lifeboat worker image (docker-compose.yml, service `worker`): Prefect's own image at the
# version Lifeboat pins, with this project installed; runbooks are part of the source.
FROM prefecthq/prefect:3.8.8-python3.11
WORKDIR /opt/lifeboat
COPY pyproject.toml README.md runbook.schema.json ./
COPY requirements ./requirements
COPY lifeboat ./lifeboat
COPY checks ./checks
COPY flows ./flows
COPY runbooks ./runbooks
# The same pins as every other machine (requirements/lock.txt), as constraints: the image
# installs only what Lifeboat needs at run time, not the dev and bench extras the lock covers.
RUN sed -e '/--hash=/d' -e 's/ \\$//' requirements/lock.txt > /tmp/constraints.txt \
    && pip install --no-cache-dir -c /tmp/constraints.txt . \
    && mkdir -p /var/lib/lifeboat
ENV LIFEBOAT_HOME=/var/lib/lifeboat
CMD ["prefect", "worker", "start", "--pool", "lifeboat", "--type", "process"]
