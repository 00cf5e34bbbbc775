# One image for every process of the system; the command picks service and role:
#   docker run IMAGE intake            API + relay + consumer ("all")
#   docker run IMAGE intake migrate    upgrade intake's database, then exit
#   docker run IMAGE topics --bootstrap-servers kafka:9092
# Every service listens on port 8000 inside its container (<SERVICE>_PORT=8000).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY deploy/__init__.py deploy/local.py deploy/run.py deploy/demo.py deploy/topics.toml ./deploy/
COPY deploy/kafka/pom.xml ./deploy/kafka/
RUN pip install . && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

# The final stage has the interpreter and the installed packages, no build tools.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HEALTH_PORT=8000
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /tmp
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['HEALTH_PORT']}/healthz\", timeout=2)"]
ENTRYPOINT ["python", "-m", "shared"]
CMD ["intake", "all"]
