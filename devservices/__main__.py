"""Command line: python -m devservices {up,down,status,env} [SERVICE ...] | system-packages"""

from __future__ import annotations

import argparse
import shlex
import sys

from . import SERVICES, DevServiceError, down, env, status, system, up


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
    packages = commands.add_parser(
        "system-packages", help="install the Debian packages that are missing (PDF, fonts)"
    )
    packages.add_argument("--check", action="store_true", help="only list what is missing")
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            up(args.services)
        elif args.command == "down":
            down(args.services)
        elif args.command == "system-packages":
            if args.check:
                missing = system.missing_packages()
                print(f"missing: {' '.join(missing)}" if missing else "all present")
                return 1 if missing else 0
            installed = system.ensure_packages()
            print(
                f"installed: {' '.join(installed)}" if installed else "system packages: all present"
            )
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
