# The nasaflow image for docker-compose.yml: Python 3.11 with the locked dependencies,
# Java 17 for Spark, the Spark Kafka connector jars, and the project installed editable.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven curl postgresql-client \
 && rm -rf /var/lib/apt/lists/*

ENV NASAFLOW_ROOT=/opt/nasaflow \
    AIRFLOW_HOME=/opt/nasaflow/.local/airflow \
    AIRFLOW_CONFIG=/opt/nasaflow/airflow.cfg \
    PATH=/opt/nasaflow/.venv/bin:$PATH \
    SPARK_HOME=/opt/nasaflow/.venv/lib/python3.11/site-packages/pyspark \
    PYSPARK_PYTHON=/opt/nasaflow/.venv/bin/python \
    NASAFLOW_SPARK_JARS_DIR=/opt/nasaflow/.local/jars/spark
WORKDIR /opt/nasaflow

COPY requirements.lock pyproject.toml README.md ./
COPY ops/spark/pom.xml ops/spark/pom.xml
RUN python -m venv .venv \
 && .venv/bin/pip install --no-cache-dir uv==0.13.9 \
 && .venv/bin/uv pip sync --python .venv/bin/python requirements.lock \
 && mvn -q -B -f ops/spark/pom.xml org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DoutputDirectory=/opt/nasaflow/.local/jars/spark -DincludeScope=runtime \
 && rm -rf /root/.m2

COPY . .
RUN .venv/bin/uv pip install --python .venv/bin/python --no-deps -e .
