# One image for every movierec service (api, worker, scheduler); the command picks the role.
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
RUN pip install .
RUN useradd --create-home movierec && mkdir -p /app/var && chown movierec /app/var
USER movierec
EXPOSE 8000
CMD ["movierec", "serve"]
