"""The cluster's shared object store: SeaweedFS speaking the S3 API.

Images and the stream's checkpoints live here, reached by URI (s3:// from Python through
pyarrow, s3a:// from Spark), so any executor on any host reads what any other process
wrote. SeaweedFS's parts run as separate processes, as on a production cluster (where
each runs on hosts of its own, with the same flags): the master (volume placement), a
volume server (the bytes), and the filer (the names) with the S3 gateway inside it.
Every port is named by the layout and bound to 127.0.0.1 only (weed's defaults would add
an Iceberg catalog, a Lance namespace and telemetry to the internet: all switched off).

Access needs a key pair from the environment (generated into .env at setup); the S3
gateway knows only that identity, from a configuration file prepare() writes with mode 0600.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from nasaflow.operations.cluster.layout import ClusterLayout
from nasaflow.operations.cluster.programs import Program
from nasaflow.settings import LOCAL_DIR, Settings, env_name
from nasaflow.store_conf import BUCKET, REGION

if TYPE_CHECKING:  # pyarrow loads in a second; only check and provision need it
    from pyarrow.fs import S3FileSystem

NAME = "store"
#: Built by ops/seaweedfs/build.sh (make setup with NASAFLOW_PROFILE=cluster).
WEED_BINARY = LOCAL_DIR / "bin" / "weed"
#: Where the cluster's processes publish images (NASAFLOW_IMAGE_STORE) and keep the
#: stream's checkpoints (NASAFLOW_CHECKPOINT_DIR, as Hadoop's s3a:// for Spark).
IMAGES_URI = f"s3://{BUCKET}/images"
CHECKPOINT_URI = f"s3a://{BUCKET}/checkpoints"
#: The size at which the master starts a new volume file. weed's default (30 GB) suits
#: dedicated disks; smaller volumes leave room on a shared one (each bucket claims seven
#: volumes at its first write, files grow as data comes).
VOLUME_SIZE_LIMIT_MB = 1024
#: Seconds the volume server waits between leaving the master and stopping: there is no
#: other volume server to take over here, so a stop need not wait.
VOLUME_PRE_STOP_SECONDS = 1
#: Seconds one request of check() and provision() may take.
REQUEST_TIMEOUT_S = 5.0


def endpoint(layout: ClusterLayout) -> str:
    """The S3 gateway's URL."""
    return f"http://{layout.address('store_s3')}"


def credentials() -> tuple[str, str]:
    """The store's access key and secret key, from the settings (the environment)."""
    settings = Settings.from_env()
    if not settings.store_access_key or not settings.store_secret_key:
        raise RuntimeError(f"{env_name('store_access_key')} and {env_name('store_secret_key')}"
                           " must be set: `make setup` generates them into .env,"
                           " ops/with-env.sh exports them")
    return settings.store_access_key, settings.store_secret_key


def s3_config_path(layout: ClusterLayout) -> str:
    """The S3 gateway's identities file (it holds the secret key)."""
    return str(layout.run / "store-s3.json")


def render_s3_config(access_key: str, secret_key: str) -> str:
    """The S3 gateway's identities: one, allowed everything, known by the given keys; no
    anonymous access."""
    identity = {"name": "nasaflow",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"]}
    return json.dumps({"identities": [identity]}, indent=2) + "\n"


def prepare(layout: ClusterLayout) -> None:
    """Data folders, and the identities file written anew from the environment's keys
    (so a changed key in .env takes effect at the next start)."""
    if not os.access(WEED_BINARY, os.X_OK):
        raise FileNotFoundError(f"{WEED_BINARY} is missing: run `NASAFLOW_PROFILE=cluster "
                                "make setup` (ops/seaweedfs/build.sh builds it)")
    for folder in ("master", "volume", "filer"):
        (layout.data(NAME) / folder).mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(parents=True, exist_ok=True)
    path = s3_config_path(layout)
    descriptor = os.open(f"{path}.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(render_s3_config(*credentials()))
    os.replace(f"{path}.tmp", path)


def programs(layout: ClusterLayout) -> list[Program]:
    """SeaweedFS's parts as three processes, started in this order and stopped in the
    reverse one (supervisord's priorities): the master, the volume server, then the filer
    with the S3 gateway. Stopped first, the filer still reaches the volume server to
    flush its metadata log; as one `weed server` process its parts stop in no such order.
    """
    data, port = layout.data(NAME), layout.port
    weed, loopback = str(WEED_BINARY), ["-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    # host:port.grpc_port: how weed names a server whose gRPC port is not port + 10000.
    master = f"{layout.address('store_master')}.{port('store_master_grpc')}"
    return [
        Program(name=f"{NAME}-master", priority=10, startsecs=3, command=[
            weed, "master", *loopback, "-peers=none", f"-mdir={data / 'master'}",
            f"-port={port('store_master')}", f"-port.grpc={port('store_master_grpc')}",
            f"-volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}", "-telemetry=false"]),
        Program(name=f"{NAME}-volume", priority=11, startsecs=3, command=[
            weed, "volume", *loopback, f"-master={master}", f"-dir={data / 'volume'}",
            "-max=0", f"-port={port('store_volume')}",
            f"-port.grpc={port('store_volume_grpc')}",
            f"-preStopSeconds={VOLUME_PRE_STOP_SECONDS}"]),
        Program(name=f"{NAME}-filer", priority=12, startsecs=3, command=[
            weed, "filer", *loopback, f"-master={master}",
            f"-defaultStoreDir={data / 'filer'}", f"-port={port('store_filer')}",
            f"-port.grpc={port('store_filer_grpc')}",
            f"-localSocket={layout.run / 'store-filer.sock'}",
            "-s3", f"-s3.port={port('store_s3')}", f"-s3.port.grpc={port('store_s3_grpc')}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.iam=false",
            f"-s3.config={s3_config_path(layout)}",
            f"-s3.localSocket={layout.run / 'store-s3.sock'}"]),
    ]


def filesystem(layout: ClusterLayout) -> S3FileSystem:
    """A pyarrow S3 filesystem on this cluster's store, failing fast (one attempt,
    short timeouts): for the launcher's checks, not for data transfers."""
    from pyarrow.fs import AwsStandardS3RetryStrategy, S3FileSystem

    access_key, secret_key = credentials()
    return S3FileSystem(access_key=access_key, secret_key=secret_key, region=REGION,
                        scheme="http", endpoint_override=layout.address("store_s3"),
                        connect_timeout=REQUEST_TIMEOUT_S, request_timeout=REQUEST_TIMEOUT_S,
                        retry_strategy=AwsStandardS3RetryStrategy(max_attempts=1),
                        allow_bucket_creation=True)


def check(layout: ClusterLayout) -> str | None:
    """None once the S3 gateway answers a signed request (listing the buckets) with the
    environment's keys; else the error in one line."""
    from pyarrow.fs import FileSelector

    try:
        filesystem(layout).get_file_info(FileSelector("/"))
    except OSError as error:
        return f"S3 gateway at {endpoint(layout)}: {str(error).splitlines()[0]}"
    return None


def provision(layout: ClusterLayout) -> None:
    """The platform's bucket, created if missing."""
    from pyarrow.fs import FileType

    store = filesystem(layout)
    if store.get_file_info(BUCKET).type == FileType.NotFound:
        store.create_dir(BUCKET)


def client_env(layout: ClusterLayout) -> Mapping[str, str]:
    """The store's endpoint and keys, and the store URIs of the platform's data and
    checkpoints."""
    access_key, secret_key = credentials()
    return {env_name("store_endpoint"): endpoint(layout),
            env_name("store_access_key"): access_key, env_name("store_secret_key"): secret_key,
            env_name("image_store"): IMAGES_URI, env_name("checkpoint_dir"): CHECKPOINT_URI}
