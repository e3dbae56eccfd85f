"""`digest`: thin click commands over the jobs, one module per group of commands. Exit 0 ok,
1 the run failed, 2 bad usage, settings or subscriber file."""

from __future__ import annotations

import click

from .. import __version__
from .common import OneLine
from .db import db_cmd
from .run import fetch_cmd, preview_cmd, rank_cmd, run_cmd, send_cmd
from .serve import daemon_cmd, serve_cmd
from .status import status_cmd
from .subscribers import subscribers_cmd


@click.group(cls=OneLine, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="paper-digest")
def main() -> None:
    """Mail each subscriber the new papers that match their keywords."""


for command in (
    run_cmd,
    send_cmd,
    fetch_cmd,
    rank_cmd,
    preview_cmd,
    status_cmd,
    subscribers_cmd,
    serve_cmd,
    daemon_cmd,
    db_cmd,
):
    main.add_command(command)
