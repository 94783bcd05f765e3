"""Can this process listen on HOST:PORT? Checked before storage is touched.

Otherwise uvicorn finds out only after start-up (the DB opened, the writer lease taken)
and reports it as a JSON error line among others. A busy port is the operator's most
common start-up mistake; it gets one plain line, like a configuration error.
"""

import errno
import socket

# uvicorn's code for a failed start-up (bind included): kept, so scripts see the same code.
EXIT_CANNOT_LISTEN = 3


class CannotListen(Exception):
    """The address cannot be bound; the message is one line for the operator."""


def check_listen(host: str, port: int) -> None:
    """Bind and close at once, with the socket options uvicorn uses (SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            shown = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
            if exc.errno == errno.EADDRINUSE:
                raise CannotListen(
                    f"port {port} is already in use ({shown}): stop the other server or set PORT to a free port"
                ) from None
            raise CannotListen(f"cannot listen on {shown}: {exc.strerror or exc} (check HOST and PORT)") from None
