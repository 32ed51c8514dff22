"""Logs as JSON lines on stderr (python-json-logger), one object a line, for every long-running
command: what log collectors parse without rules. ``MOVIEREC_LOG_FORMAT=text`` for people."""
from __future__ import annotations

import logging.config

from shared.config import Settings

FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def log_config(settings: Settings, service: str) -> dict:
    """A ``logging.config.dictConfig`` document (gunicorn takes it as ``logconfig_dict``):
    the root logger and gunicorn's error log on stderr, in the configured format, each line
    naming ``service`` (the API adds the request id to its handler, api/app.py). gunicorn's own
    access log stays off: the API writes its own, with the request id and the endpoint
    (api/access_log.py)."""
    formatter = {"json": {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": FIELDS,
                          "rename_fields": {"asctime": "time", "levelname": "level",
                                            "name": "logger"},
                          "static_fields": {"service": service}},
                 "text": {"format": f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"}}
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
               "formatter": settings.log_format}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {settings.log_format: formatter[settings.log_format]},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": settings.log_level},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }


def configure(settings: Settings, service: str) -> None:
    """Log as the settings say, in a process of its own (the workers, the scheduler)."""
    logging.config.dictConfig(log_config(settings, service))
