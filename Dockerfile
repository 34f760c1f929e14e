# handrail's workers (sink, demo; processors and router later) in one image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY producers producers
COPY processors processors
COPY schemas schemas
COPY ledger ledger
RUN pip install --no-cache-dir . && rm -rf build
ENTRYPOINT ["handrail"]
