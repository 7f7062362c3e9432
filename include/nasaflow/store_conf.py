"""How every process reaches the cluster profile's object store (S3 API, SeaweedFS).

One definition of the store's client contract beside the settings that name it
(`store_endpoint`, `store_access_key`, `store_secret_key`): the bucket, the region, and
where S3A's jars are. The store's component (nasaflow.operations.cluster.store) writes
those settings' variables; Spark launches (nasaflow.spark_launch, with S3A's settings) and
the library (nasaflow.objectstore) read them through the settings.
"""

from __future__ import annotations

from pathlib import Path

from nasaflow.settings import LOCAL_DIR

#: The platform's one bucket: images under images/, stream checkpoints under checkpoints/.
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
