"""The parameter job's library, without Spark: what spark_jobs/compute_parameters.py runs.

Modules: `plan` cuts a run's images into tasks and balanced partitions, `publish`
computes and publishes one partition's tasks with one Kafka producer, `report` folds the
tasks' statuses into the run's report and exit code.
"""
