"""Command line: ``python -m sklm demo``.

Run ``python -m sklm demo --help`` for the options.
"""

import argparse
import sys

from . import __version__


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklm",
        description="sklm: neural-network regressors trained by Levenberg-Marquardt.",
    )
    parser.add_argument("--version", action="version", version=f"sklm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    from ._demo import build_parser  # noqa: PLC0415
    from ._demo import main as demo_main

    build_parser(commands.add_parser(
        "demo", help="fit the tutorial's Rosenbrock surrogate with LM and Adam"))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return demo_main(args)


if __name__ == "__main__":
    sys.exit(main())
