"""How every process reaches the cluster profile's object store (S3 API, SeaweedFS).

One definition of the store's client contract: the environment variables naming it, the
bucket, and the Hadoop S3A settings Spark needs for a self-hosted S3 endpoint. The store's
component (nasaflow.operations.cluster.store) writes these variables; Spark launches and
the library read them.
"""

from __future__ import annotations

from pathlib import Path

from nasaflow.settings import LOCAL_DIR

#: The S3 endpoint's URL (http://127.0.0.1:<port>).
ENDPOINT_ENV = "NASAFLOW_STORE_ENDPOINT"
#: The store's credentials, generated into .env by `make setup`.
ACCESS_KEY_ENV = "NASAFLOW_STORE_ACCESS_KEY"
SECRET_KEY_ENV = "NASAFLOW_STORE_SECRET_KEY"
#: The platform's one bucket: images under data/, stream checkpoints under checkpoints/.
BUCKET = "nasaflow"
#: SeaweedFS accepts any region in a request's signature; clients must name one, and
#: naming it spares the AWS SDK a region lookup (which would go to AWS).
REGION = "us-east-1"
#: hadoop-aws and the AWS SDK modules it needs, fetched by `make setup` (ops/spark-s3).
S3A_JARS_DIR = LOCAL_DIR / "jars" / "spark-s3"


def s3a_jars(jars_dir: Path = S3A_JARS_DIR) -> list[str]:
    """The S3A jars' paths, sorted; a clear error when `make setup` has not fetched them."""
    jars = sorted(str(path) for path in jars_dir.glob("*.jar"))
    if not jars:
        raise FileNotFoundError(f"no S3A jars in {jars_dir}: run `make setup` (it fetches "
                                "ops/spark-s3/pom.xml's jars with Maven)")
    return jars


def s3a_conf(endpoint: str, access_key: str, secret_key: str) -> dict[str, str]:
    """Spark --conf values for s3a:// URIs on the self-hosted S3 endpoint `endpoint`
    (http://host:port). Each departs from S3A's defaults, which assume AWS:

    - path-style requests (http://host:port/bucket/key): no DNS name per bucket;
    - plain HTTP on loopback, and a fixed region (no lookup at AWS);
    - the keys given here only, never the AWS provider chain (environment variables,
      ~/.aws, the EC2 metadata service) that might find another account's keys.

    No committer or change-detection setting is needed: SeaweedFS returns the ETags S3A's
    change detection compares, and does the copies and deletes of S3A's renames (the
    streaming checkpoint's commits; tests/integration/cluster/test_store.py).
    """
    if not endpoint.startswith(("http://", "https://")):
        raise ValueError(f"expected the store endpoint as http(s)://host:port, got {endpoint!r}")
    hadoop = {
        "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "fs.s3a.endpoint": endpoint,
        "fs.s3a.endpoint.region": REGION,
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https://")).lower(),
        "fs.s3a.aws.credentials.provider":
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "fs.s3a.access.key": access_key,
        "fs.s3a.secret.key": secret_key,
    }
    return {f"spark.hadoop.{key}": value for key, value in hadoop.items()}
