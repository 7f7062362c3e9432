"""The PostgreSQL sink of the parameter stream: Kafka records in, upserted cells out.

Modules, in the order a record travels: `records` (Kafka record -> cell rows, or the
reason nasaflow.messaging.contract refuses it), `staging` (executors COPY rows into
UNLOGGED staging tables), `commit` (the driver applies a batch in one transaction, exactly
once), `batch` (the foreachBatch callable tying them to Spark, with `retry`'s bounded
backoff). Around them: `contract` checks at start that the tables have every column the
sink writes, `lock` keeps one driver per checkpoint and query name, `landing` answers "has
every cell of these images arrived?" (nasaflow.spark_launch says how the Spark application
is launched). Nothing here imports Spark at module level.
"""
