"""``mediaframe score --engine spark``: the registered scoring function on Apache Spark.

Chunks, shards, manifest, lock and resume are the local engine's own
(``pipelines.shards.score_shards``); only the scoring of a chunk differs. The chunk becomes
a Spark DataFrame, the registered pyfunc runs on the executors through
``mlflow.pyfunc.spark_udf(..., env_manager="local")`` with a struct result type built
from the model's own output schema, and the scored rows come back to the driver to be
written as that chunk's shard. Reading stays on the driver so that shard k holds exactly
the rows the local engine puts there: resume, the no-op re-run and the local/Spark
comparison all rest on that.

Two limits of spark_udf's result conversion (mlflow 3.17) are worked around here: a null
struct value fails the whole batch, and a null inside a partly filled string column
arrives as the text "None". The pyfunc is called with its inference parameter
``spark_udf=True`` (a null probability struct comes as a struct of nulls) and the Spark
side turns both back into nulls. Pass-through metadata (id, title, ...) is taken from
the input columns rather than from the UDF, so a title that reads "None" stays "None".

Executors run the driver's interpreter (``spark.pyspark.python``), the venv that has
mlflow and the project installed; on a cluster, point ``spark_conf`` in
configs/score.yaml at the interpreter the workers have.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pyarrow as pa

from models.scorer import INPUT_COLUMNS, SPARK_PARAM
from pipelines.config import ScoreConfig
from pipelines.shards import Predict, ScoreError, ScoreResult, output_schema, score_shards

ROW = "_mediaframe_row"  # the input order, carried through Spark and restored after


def session(cfg: ScoreConfig):
    """The active SparkSession if there is one (a notebook's, a test's), else a new one on
    ``cfg.spark_master``. Returns (session, whether we started it and so must stop it)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    conf: dict[str, str] = {
        "spark.pyspark.python": sys.executable,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        **cfg.spark_conf,
    }
    os.environ["PYSPARK_PYTHON"] = conf["spark.pyspark.python"]
    builder = SparkSession.builder.master(cfg.spark_master).appName("mediaframe-score")
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark, True


def result_type(schema: pa.Schema):
    """The UDF's struct result type: the shard schema itself, in Spark's types."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def restore_nulls(rtype, present: list[str]) -> list[Any]:
    """Columns of the final rows from the UDF's struct ``r``: input metadata from the
    input, "None" strings and all-null probability structs back to nulls."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructType

    cols = []
    for f in rtype.fields:
        c = F.col("r")[f.name]
        if f.name in present:
            cols.append(F.col(f.name).alias(f.name))
        elif isinstance(f.dataType, StringType):
            cols.append(F.when(c != "None", c).alias(f.name))
        elif isinstance(f.dataType, StructType):
            members = F.coalesce(*[c[m.name] for m in f.dataType.fields])
            cols.append(F.when(members.isNotNull(), c).alias(f.name))
        else:
            cols.append(c.alias(f.name))
    return cols


def chunk_scorer(spark, pinned: str) -> tuple[Predict, pa.Schema]:
    """Load the model once on the driver (schema and signature), build the UDF once."""
    from pyspark.sql import functions as F

    model = mlflow.pyfunc.load_model(pinned)
    schema = output_schema(model)
    params = model.metadata.get_params_schema()
    if params is None or SPARK_PARAM not in {p.name for p in params.params}:
        raise ScoreError(
            f"{pinned} was published without the {SPARK_PARAM!r} inference parameter the "
            "Spark engine needs; publish it again with this version of mediaframe, or "
            "score it with --engine local"
        )
    rtype = result_type(schema)
    udf = mlflow.pyfunc.spark_udf(
        spark, pinned, result_type=rtype, env_manager="local", params={SPARK_PARAM: True}
    )
    parallelism = spark.sparkContext.defaultParallelism

    def predict(chunk: pd.DataFrame) -> pd.DataFrame:
        present = [c for c in INPUT_COLUMNS if c in chunk.columns]
        pdf = chunk[present].copy()
        pdf[ROW] = range(len(pdf))
        ddl = ", ".join(f"{c} string" for c in present) + f", {ROW} long"
        sdf = spark.createDataFrame(pdf, schema=ddl)
        if sdf.rdd.getNumPartitions() < parallelism:
            sdf = sdf.repartition(parallelism)
        scored = sdf.select(ROW, *present, udf(F.struct(*present)).alias("r"))
        rows = scored.select(ROW, *restore_nulls(rtype, present)).toArrow()
        return rows.sort_by(ROW).drop_columns([ROW]).to_pandas()

    return predict, schema


def score_spark(
    files: list[Path],
    out: Path,
    cfg: ScoreConfig,
    pinned: str,
    version: str,
    manifest: dict[str, Any],
    manifest_path: Path,
) -> ScoreResult:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ScoreError(
            "--engine spark needs pyspark: pip install 'mediaframe[spark]' (Java 17 too)"
        ) from None
    started: list[Any] = []

    def load() -> tuple[Predict, pa.Schema]:
        spark, own = session(cfg)
        if own:
            started.append(spark)
        return chunk_scorer(spark, pinned)

    try:
        return score_shards(files, out, cfg, version, manifest, manifest_path, load)
    finally:
        for spark in started:
            spark.stop()
