"""Run az command lines through the real Azure CLI's parser and validators, offline.

Runs under the .azcli venv's Python (`make tools`), not the test venv: azure-cli pins
hundreds of packages. Reads a JSON list of argv lists (without the leading "az") on stdin
and prints one JSON object per line: {"argv", "code", "command", "params", "error"}.

Everything up to the command's handler is the real CLI: command table, argument parser
(names, choices, types, required arguments), argument and command validators, --query
(JMESPath) and -o checks. Only the handler, which would call Azure, is replaced by a
recorder. Checks that handlers make after parsing live in tests/infra/fakes.py.
"""

import contextlib
import io
import json
import logging
import os
import sys
import tempfile

# A private config dir, no telemetry, no extension installs: nothing leaves the machine.
os.environ.update(
    AZURE_CONFIG_DIR=tempfile.mkdtemp(prefix="azcli-config-"),
    AZURE_CORE_COLLECT_TELEMETRY="no",
    AZURE_EXTENSION_USE_DYNAMIC_INSTALL="no",
    AZURE_CORE_NO_COLOR="yes",
)

from azure.cli.core import get_default_cli  # only in the .azcli venv (mypy: pyproject override)
from azure.cli.core.commands import AzCliCommandInvoker  # only in the .azcli venv

_recorded: list[tuple[str, list[str]]] = []


def _record_instead_of_calling_azure(self, expanded_arg, cmd_copy):
    params = self._filter_params(expanded_arg)
    given = sorted(k for k, v in params.items() if k != "cmd" and v not in (None, False, [], ""))
    _recorded.append((cmd_copy.name, given))


AzCliCommandInvoker._run_job = _record_instead_of_calling_azure


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def check(argv: list[str]) -> dict:
    _recorded.clear()
    collect = _Collect()
    logging.getLogger().addHandler(collect)
    logging.getLogger("cli").addHandler(collect)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = get_default_cli().invoke(argv, out_file=io.StringIO())
            except SystemExit as exc:  # argparse errors exit 2
                code = exc.code
    finally:
        logging.getLogger().removeHandler(collect)
        logging.getLogger("cli").removeHandler(collect)
    command, params = _recorded[0] if _recorded else (None, [])
    ok = code == 0 and command is not None
    lines = [*collect.lines, err.getvalue().strip()]
    error = "" if ok else " | ".join(dict.fromkeys(line for line in lines if line))[-1500:]
    return {"argv": argv, "code": code, "command": command, "params": params, "error": error}


def main() -> None:
    for argv in json.load(sys.stdin):
        print(json.dumps(check(argv)), flush=True)


if __name__ == "__main__":
    main()
