"""One Spark session (local mode, a real JVM) for every test here: a retrain run inside a
process that already runs Spark uses its session (trainer/spark/session.py)."""
import pytest

from shared.config import Settings
from trainer.spark.session import spark_session


@pytest.fixture(scope="session", autouse=True)
def spark():
    with spark_session(Settings(spark_master="local[2]"), app_name="movierec-tests") as session:
        yield session
