"""The PostgreSQL sink of the parameter stream: Kafka records in, upserted cells out.

Modules, in the order a record travels: `contract` (is this a valid version 1 message,
and if not, why), `records` (Kafka record -> cell rows or a refusal), `staging` (executors
COPY rows into UNLOGGED staging tables), `commit` (the driver applies a batch in one
transaction, exactly once), `batch` (the foreachBatch callable tying them to Spark, with
`retry`'s bounded backoff). Around them: `lock` keeps one driver per checkpoint and query
name, `landing` answers "has every cell of these images arrived?" (nasaflow.spark_launch
says how the Spark application is launched). Nothing here imports Spark at module level.
"""
