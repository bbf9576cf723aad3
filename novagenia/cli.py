"""`novagenia shutdown`: stop the application and its detached actors deliberately.

`serve shutdown` leaves the JobBoard and the Hub downloader running on purpose (queued
jobs and downloads survive a redeploy); this command removes them too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ray
import yaml
from ray import serve

from novagenia.app import remove_detached_actors
from novagenia.config import AppArgs


def shutdown(config: Path) -> None:
    ray.init(address="auto", ignore_reinit_error=True, log_to_driver=False)
    serve.shutdown()
    for application in yaml.safe_load(config.read_text()).get("applications", []):
        args = AppArgs.model_validate(
            {"app_name": application["name"], **application.get("args", {})}
        )
        for name in remove_detached_actors(args.absolute()):
            print(f"removed {name}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="novagenia", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    stop = commands.add_parser(
        "shutdown", help="serve shutdown, then remove the board and downloader"
    )
    stop.add_argument("--config", type=Path, default=Path("serve_config.yaml"))
    options = parser.parse_args()
    if options.command == "shutdown":
        shutdown(options.config)


if __name__ == "__main__":
    main()
