"""The Spark session a retrain runs in."""
from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from movierec.java import ensure_spark
from shared.config import Settings

# The JVM's heap in local mode (driver and executors in one): the cached snapshot and
# MLlib's working sets; a cluster's spark-submit sets its own.
LOCAL_DRIVER_MEMORY = "3g"


@contextmanager
def spark_session(settings: Settings, app_name: str = "movierec-retrain") -> Iterator:
    """A SparkSession at ``settings.spark_master``, stopped on the way out; or the session
    this process already runs (a retrain called from a Spark application, or tests), left
    running. Java and pyspark are checked first (:func:`movierec.java.ensure_spark`), so what
    is missing is said before any work starts."""
    ensure_spark(settings.allow_apt)
    from pyspark.sql import SparkSession

    # py4j says at INFO that it closes each connection, also after logging has shut down
    logging.getLogger("py4j").setLevel(logging.WARNING)
    # pyspark 4 warns about pandas 3 on every conversion; what the engine uses is tested
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    warnings.filterwarnings("ignore", message="The copy keyword is deprecated")

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    master = settings.spark_master
    cores = os.cpu_count() or 2
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", str(2 * cores))
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.python.worker.reuse", "true"))
    if master.startswith("local"):  # the tasks run this interpreter, with the project on it
        os.environ["PYSPARK_PYTHON"] = sys.executable
        builder = builder.config("spark.driver.memory", LOCAL_DRIVER_MEMORY)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()
