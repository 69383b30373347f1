"""What ``deploykit up`` checks before it starts, and the banner it prints once both answer."""

from __future__ import annotations

import errno
import shlex
import socket
from pathlib import Path

from deploykit.errors import ConfigurationError

__all__ = ["banner", "check_port_free", "predict_command"]


def check_port_free(host: str, port: int, option: str) -> None:
    """Raise ConfigurationError naming ``port`` and ``option`` if nothing can listen there.

    Checked before anything is printed, so a second ``up`` never shows a token that the
    server already answering on that port would refuse. SO_REUSEADDR as uvicorn sets it:
    a port left in TIME_WAIT by a server just stopped counts as free.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bind_host = "" if host in ("0.0.0.0", "::") else host
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((bind_host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise ConfigurationError(
                    f"Cannot listen on {host}:{port} ({option}): {exc.strerror}."
                ) from None
            raise ConfigurationError(
                f"Port {port} on {host} is already in use (another 'deploykit up' or "
                f"'deploykit serve'?). Stop it, or choose another port: {option} {port + 10}."
            ) from None


def banner(
    *,
    database_url: str,
    artifacts_url: str,
    model: str,
    production: int | None,
    server_url: str,
    console_url: str | None,
    console_log: Path,
    sign_in_url: str | None,
    token_file: Path,
    sample_file: Path,
    predict_needs_token: bool = False,
) -> str:
    """The lines ``deploykit up`` prints once the server (and console) answer: where
    everything is, the operator's console sign-in link (the one place the admin token is
    shown: it would otherwise sit in terminal logs), and two commands that work as printed."""
    predict = predict_command(
        server_url, model, sample_file, token_file if predict_needs_token else None
    )
    lines = [
        f"registry     {database_url}",
        f"artifacts    {artifacts_url}",
        f"demo model   {model} (production = version {production}, 30 columns)",
        f"server       {server_url}   (API docs: {server_url}/openapi.json)",
    ]
    if console_url is not None:
        lines.append(f"console      {console_url}   (log: {console_log})")
    if sign_in_url is not None:
        lines.append(f"sign in      {sign_in_url}   (as the local admin)")
    lines += [
        f"admin token  in {token_file} (mode 0600); the team signs in to the console with "
        "their own: deploykit token create --role viewer --name NAME",
        f"predict      {predict}",
        f"models       curl -s {_auth_header(token_file)} {server_url}/v1/models",
        "Ctrl+C stops.",
    ]
    return "\n".join(lines)


def predict_command(
    server_url: str, model: str, sample_file: Path, token_file: Path | None = None
) -> str:
    """The curl line that sends the demo's sample request (the README shows the same);
    with ``token_file`` when the server wants a token for predictions too."""
    auth = _auth_header(token_file) + " " if token_file is not None else ""
    return (
        f"curl -s -X POST {server_url}/v1/models/{model}/predict {auth}"
        f'-H "Content-Type: application/json" -d @{shlex.quote(str(sample_file))}'
    )


def _auth_header(token_file: Path) -> str:
    return f'-H "Authorization: Bearer $(cat {shlex.quote(str(token_file))})"'
