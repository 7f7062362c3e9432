"""The parameter job's library, without Spark: what spark_jobs/compute_parameters.py runs.

Modules: `publish` plans a run's tasks and computes and publishes them with one Kafka
producer per partition, `report` folds the tasks' statuses into the run's report and
exit code.
"""
