"""Spark application of test_engines: runs eight short tasks once both executors are
registered and prints the working folder of every task. An executor runs in
<worker work dir>/<application id>/<executor id>, so the folders say which worker and
which executor ran each task."""

from __future__ import annotations

import json
import os
import time

from pyspark.sql import SparkSession

#: The line prefix test_engines looks for in the output.
MARKER = "EXECUTOR_DIRS "


def task_folder(_: int) -> str:
    """The executor's working folder; the pause keeps both executors busy."""
    time.sleep(0.5)
    return os.getcwd()


def main() -> None:
    spark = (SparkSession.builder.appName("nasaflow-engines-test")
             .config("spark.cores.max", "2")
             .config("spark.executor.cores", "1")
             .config("spark.executor.memory", "512m")
             # Start the job only once both one-core executors are registered.
             .config("spark.scheduler.minRegisteredResourcesRatio", "1.0")
             .config("spark.scheduler.maxRegisteredResourcesWaitingTime", "120s")
             .getOrCreate())
    try:
        folders = spark.sparkContext.parallelize(range(8), 8).map(task_folder).collect()
        print(MARKER + json.dumps(sorted(set(folders))), flush=True)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
