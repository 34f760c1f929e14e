# handrail in one image: `handrail sink run`, `handrail processors run` (the Faust workers,
# with the alert router inside), `handrail ledger migrate`, `handrail demo`, ...
# The repository keeps a top-level layout; pyproject.toml maps these folders onto the
# `handrail` package, so each one is copied (docs/ is not read at runtime).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY pyproject.toml README.md /src/
COPY scripts/build_backend.py /src/scripts/build_backend.py
COPY common /src/common
COPY cli /src/cli
COPY governance /src/governance
COPY control /src/control
COPY embedded /src/embedded
COPY demo /src/demo
COPY producers /src/producers
COPY processors /src/processors
COPY otlp /src/otlp
COPY adapters /src/adapters
COPY console /src/console
COPY schemas /src/schemas
COPY ledger /src/ledger
RUN pip install "/src[server]" && rm -rf /src

# An unprivileged user. /data is where the compose file mounts the spool and the sink's
# checkpoints (a new named volume takes this directory's owner); the working directory,
# the user's home, takes Faust's data directory (`<app id>-data`, empty with memory tables).
RUN useradd --create-home --uid 10001 handrail && mkdir /data && chown handrail /data
USER handrail
WORKDIR /home/handrail

ENTRYPOINT ["handrail"]
CMD ["--help"]
