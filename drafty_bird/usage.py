"""Usage errors of the command-line tools exit 64 (EX_USAGE from sysexits.h).

argparse's default, 2, already means something else here: a configuration error at
start-up, and "inconclusive" from the release gate. A typo in a pipeline argument
must not read as either.
"""

import argparse
import sys
from typing import NoReturn

EX_USAGE = 64


class UsageParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors (and those of its subcommands) exit EX_USAGE."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")
