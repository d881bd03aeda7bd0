"""Command line: python -m devservices {up,down,status,env} [SERVICE ...]"""

from __future__ import annotations

import argparse
import shlex
import sys

from . import SERVICES, DevServiceError, down, env, status, up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devservices", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("up", "install if missing, start, wait until ready"),
        ("down", "stop (no-op when not running)"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument(
            "services",
            nargs="*",
            metavar="SERVICE",
            help=f"any of {', '.join(SERVICES)} (default: all)",
        )
    commands.add_parser("status", help="show which services run and answer")
    commands.add_parser("env", help="print `export NAME=value` lines for the test-suite")
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            up(args.services)
        elif args.command == "down":
            down(args.services)
        elif args.command == "status":
            for name, state in status().items():
                print(f"{name}: {state}")
        else:
            for key, value in env().items():
                print(f"export {key}={shlex.quote(value)}")
    except DevServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
