# One image for every movierec service (api, worker, scheduler, and Spark's master and worker
# with EXTRAS=spark); the command picks the role.
FROM python:3.11-slim
# HOST: the API listens on every interface of the container, which is how it is reached at all
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HOST=0.0.0.0
WORKDIR /app
COPY pyproject.toml README.md Procfile ./
COPY api ./api
COPY worker ./worker
COPY trainer ./trainer
COPY shared ./shared
COPY movierec ./movierec
# EXTRAS=spark: pyspark, and the Java runtime Spark runs on (the trainer and the compose
# file's spark profile, whose master and worker run from this image too)
ARG EXTRAS=""
RUN case "$EXTRAS" in *spark*) apt-get update \
      && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
      && rm -rf /var/lib/apt/lists/* ;; esac
RUN pip install ".${EXTRAS:+[$EXTRAS]}"
RUN useradd --create-home movierec && mkdir -p /app/var && chown movierec /app/var
USER movierec
EXPOSE 8000
CMD ["movierec", "serve"]
