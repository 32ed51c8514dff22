"""The retrain on Apache Spark (``movierec train --engine spark``, the ``spark`` extra).

Spark does the work that grows with the data: its tasks read the ratings store's partitions
from Redis, hold the ratings, and send back only what is small (sums over users, the Gram
matrix of the modelled movies, factors, centroids, one number or cluster per user). The driver
fits what is left from those with the same estimators a local retrain uses, so the version is
the same kind of bundle and serving does not know which engine trained it.
"""
