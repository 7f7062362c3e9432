# The image of the Spark drivers and executors on Kubernetes (spark.kubernetes.container.image
# in spark/spark-defaults.yaml): Apache Spark's own image, whose entrypoint starts drivers and
# executors in pods, with the project's Python 3.11 environment from requirements.lock, the
# nasaflow library and the Spark applications, the Kafka connector and JDBC jars of
# ops/spark/pom.xml, and hadoop-aws (s3a:// store URIs) at the Hadoop version of the Spark
# distribution it joins. Build from the repository root:
#   docker build -f deploy/kubernetes/images/spark.Dockerfile -t <registry>/nasaflow-spark:0.1.0 .
FROM apache/spark:4.2.0-python3
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv maven \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/nasaflow
COPY requirements.lock pyproject.toml README.md ./
COPY ops/spark/pom.xml ops/spark/pom.xml
RUN python3.11 -m venv .venv \
 && .venv/bin/pip install --no-cache-dir uv==0.13.9 \
 && .venv/bin/uv pip sync --python .venv/bin/python requirements.lock \
 && mvn -q -B -f ops/spark/pom.xml org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DoutputDirectory=/opt/spark/jars -DincludeScope=runtime \
 && hadoop=$(ls /opt/spark/jars/hadoop-client-api-*.jar | sed 's/.*hadoop-client-api-\(.*\)\.jar/\1/') \
 && mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact=org.apache.hadoop:hadoop-aws:$hadoop -DoutputDirectory=/opt/spark/jars \
 && rm -rf /root/.m2
COPY include include
COPY spark_jobs spark_jobs
RUN .venv/bin/uv pip install --python .venv/bin/python --no-deps -e .
ENV PYSPARK_PYTHON=/opt/nasaflow/.venv/bin/python
USER spark
