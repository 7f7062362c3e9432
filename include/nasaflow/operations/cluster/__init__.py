"""The cluster profile: the platform's engines as separate processes shaped like a
production cluster (Spark standalone, three Kafka brokers, an S3 object store, Airflow's
CeleryExecutor), started on this machine by `make up PROFILE=cluster`.

Each engine is a module exposing the `Component` functions (see `component.py`); the
launcher (`python -m nasaflow.operations.cluster`) prepares them, runs their programs
under a supervisord of the cluster's own, waits until each is usable, then provisions it.
A `ClusterLayout` names every folder and port, so the test suite's cluster runs beside a
user's, with its own ports and data folders.
"""
