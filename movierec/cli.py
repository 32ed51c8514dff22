"""The ``movierec`` command line: one module per command in ``movierec/commands``."""
from __future__ import annotations

import importlib

import click

# command name -> module in movierec.commands exposing a click command called ``command``
COMMANDS = {
    "generate": "generate",
    "import": "import_data",
    "serve": "serve",
    "worker": "worker",
    "up": "up",
    "evaluate": "evaluate",
    "train": "train",
    "models": "models",
    "scheduler": "scheduler",
    "events": "events",
    "report": "report",
    "migrate": "migrate",
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs, so ``--help`` stays fast."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        module = COMMANDS.get(name)
        if module is None:
            return None
        return importlib.import_module(f"movierec.commands.{module}").command

    def invoke(self, ctx):
        from shared.config import ConfigError

        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(f"configuration: {exc}") from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="movierec")
def main():
    """movierec: an event-driven online movie recommender (Flask + Redis + RQ)."""


if __name__ == "__main__":  # pragma: no cover
    main()
