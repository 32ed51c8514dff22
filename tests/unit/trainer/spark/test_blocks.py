"""The DataFrame helpers of trainer/spark/blocks.py, on a real local Spark session."""
import numpy as np
import pandas as pd
import pytest

from trainer.spark.blocks import nth_smallest

pytestmark = pytest.mark.slow


def test_the_nth_smallest_value_is_the_sorted_values_nth_ties_and_ends_included(spark):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 3_000, 60_000)  # many ties, as timestamps have
    frame = spark.createDataFrame(pd.DataFrame({"ts": values}), "ts long").repartition(3)
    ordered = np.sort(values)
    for k in (0, 41_234, 59_999):
        assert nth_smallest(frame, "ts", k) == ordered[k]
    # a bracket too narrow for the data is widened until it holds the value
    assert nth_smallest(frame, "ts", 12_345, relative_error=1e-9) == ordered[12_345]
    with pytest.raises(ValueError, match="k must be in 0..59999"):
        nth_smallest(frame, "ts", 60_000)
