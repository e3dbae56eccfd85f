"""The long-running commands: `digest serve` (the subscriber pages) and `digest daemon` (the
daily job on a schedule)."""

from __future__ import annotations

import logging
import threading

import click

from ..jobs import daily
from ..jobs.result import RunResult
from ..progress import LogLines, Plain, for_terminal
from .common import guarded, settings


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def serve_cmd(host: str, port: int) -> None:
    """Serve the subscribe, preferences and unsubscribe pages."""
    import uvicorn

    from ..web.app import build_app

    config = settings()
    base = config.web.base_url or f"http://{host}:{port}"
    app = guarded(build_app, config, base)
    log = for_terminal()
    if not config.web.base_url:
        log.warn(
            f"DIGEST_BASE_URL is not set: links point at {base}, and digests from "
            "`digest run` carry no preferences or one-click unsubscribe link"
        )
    log.info(f"serving {base}/ (listening on {host}:{port}; Ctrl-C stops)")
    web_log = logging.getLogger("digest.web")
    web_log.setLevel(logging.INFO)
    web_log.addHandler(LogLines(Plain()))
    # access_log off: every path of interest holds a signed token, and logs are not secret
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


@click.command("daemon")
def daemon_cmd() -> None:
    """Run the daily job on DIGEST_SCHEDULE until SIGTERM or SIGINT."""
    from ..schedule.daemon import daemon

    config = settings()
    log = Plain()

    def job(stop: threading.Event) -> RunResult:
        return daily.run(config, reporter=log, stop=stop)

    daemon(config.schedule.cron, config.schedule.timezone, job, log)
