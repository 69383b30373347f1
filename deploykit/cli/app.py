"""Typer application: ``deploykit push|versions|deploy|rollback|events|models|score|export|gc``,
``card`` and ``verify``.

Every command talks to the registry named by the ``DEPLOYKIT_*`` settings.
A deploykit error prints one line on stderr and exits with status 1; a usage
error exits with 2 (typer's convention). ``--json`` prints records for scripts.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from deploykit.cli import render
from deploykit.errors import DeployKitError
from deploykit.records import Alias
from deploykit.settings import Settings

if TYPE_CHECKING:
    from deploykit.backend import Backend
    from deploykit.client import Client


class _Command(TyperCommand):
    """Usage lines in click's own form: ``deploykit deploy [OPTIONS] NAME VERSION`` (typer
    would write a required argument as ``{NAME}``, which reads like a placeholder to fill)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


# Plain help (rich_markup_mode=None): typer's rich help writes "<bool>" beside every flag,
# --help included, which reads as if the flag took a value.
app = typer.Typer(
    name="deploykit",
    help="Put a scikit-learn model in production: push, version, deploy, roll back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", "-r", help="Why; kept in the audit log.")
]
AliasOption = Annotated[str, typer.Option("--alias", "-a", help="The alias to move.")]
NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="Model name.")]
VersionArgument = Annotated[
    str, typer.Argument(metavar="VERSION", help="A version number or an alias.")
]


def _registry() -> Backend:
    """The registry the settings point at: a server if DEPLOYKIT_SERVER_URL is set, else the
    embedded one. Both offer the same operations, so the commands below don't care which."""
    from deploykit.backend import open_backend

    return open_backend(Settings.from_env())


def _print_json(value: Any) -> None:
    if isinstance(value, list):
        value = [v.to_dict() if hasattr(v, "to_dict") else v for v in value]
    elif hasattr(value, "to_dict"):
        value = value.to_dict()
    typer.echo(json.dumps(value, indent=2, default=str))


def _show(value: Any, as_json: bool, human: Callable[[Any], object]) -> None:
    """Print ``value`` as JSON for scripts (--json), else the way ``human`` shows people."""
    if as_json:
        _print_json(value)
    else:
        human(value)


@app.command(cls=_Command)
def models(as_json: JsonOption = False) -> None:
    """List every model with its latest version and aliases."""
    with _registry() as reg:
        found = reg.models()
    _show(found, as_json, render.models_table)


@app.command(cls=_Command)
def push(
    model_file: Annotated[
        Path,
        typer.Argument(metavar="MODEL_FILE", help="A fitted model saved with joblib or skops."),
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="Model name, e.g. churn.")],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", "-d", help="Training data (Parquet/CSV): signature and drift reference."
        ),
    ] = None,
    model_format: Annotated[
        str | None, typer.Option("--format", help="joblib or skops; guessed from the suffix.")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-m")] = "",
    eval_data: Annotated[
        Path | None,
        typer.Option(
            "--eval", help="Labelled held-out data (Parquet/CSV) to evaluate on; needs --target."
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", "-y", help="The label column of the --eval file.")
    ] = None,
    gate: Annotated[
        str | None,
        typer.Option("--gate", help="e.g. 'roc_auc>=0.8; recall>=production-0.01'; needs --eval."),
    ] = None,
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Move 'production' to it (if the gate passes).")
    ] = False,
    nullable: Annotated[
        str | None,
        typer.Option("--nullable", help="Columns that accept nulls, e.g. 'age,income'."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Push a model file as a new immutable version; with --eval, evaluated and gated.

    A failed gate still stores the version (for the record) but leaves production where it
    is and exits with status 1, so a CI job stops there.
    """
    import warnings

    from deploykit.cli.data import read_table
    from deploykit.errors import DeployKitWarning, InvalidInputError

    if gate is not None:
        from deploykit.evaluation import Gate

        Gate.parse(gate)  # a typo in the gate is the first thing to hear about
    if gate is not None and eval_data is None:
        raise InvalidInputError(
            "--gate needs labelled data to be checked on: add --eval FILE --target COLUMN."
        )
    if (eval_data is None) != (target is None):
        raise InvalidInputError("--eval and --target go together: the file and its label column.")
    X = read_table(data) if data is not None else None
    _pickle_note(model_file, model_format)
    with _registry() as reg:
        report = None
        if eval_data is not None and target is not None:
            report = _evaluate_file(reg, model_file, model_format, name, eval_data, target)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeployKitWarning)  # said below, in one line
            version = reg.push_file(
                model_file,
                name,
                X=X,
                format=model_format,
                description=description,
                evaluation=report,
                gate=gate,
                deploy=deploy,
                nullable=[n.strip() for n in nullable.split(",") if n.strip()]
                if nullable
                else None,
            )
        same = [
            v.version
            for v in reg.versions(name)
            if v.digest == version.digest and v.version < version.version
        ]
    if as_json:
        _print_json(version)
    else:
        if report is not None:
            render.evaluated(report, gate)
        render.pushed(version, identical_to=same[-1] if same else None)
    if version.gate_passed is False:
        raise typer.Exit(1)


def _pickle_note(model_file: Path, model_format: str | None) -> None:
    """One line on stderr when the file pushed is a pickle (the registry's warning, worded
    for the command line); the registry's own PickleWarning then stays quiet."""
    from deploykit.serialization import detect_format, pickle_note

    if not model_file.is_file():
        return  # push_file says so, in its own words
    fmt = model_format or detect_format(model_file)
    note = pickle_note(
        fmt,
        what=f"Pushing '{model_file.name}' ({fmt})",
        fix="Save the model with skops.io.dump and push the .skops file",
    )
    if note:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)


def _evaluate_file(
    reg: Backend, model_file: Path, model_format: str | None, name: str, path: Path, target: str
) -> Any:
    """Evaluate the model in ``model_file`` on the labelled file, beside production."""
    from deploykit.cli.data import read_table
    from deploykit.errors import InvalidInputError
    from deploykit.evaluation import evaluate
    from deploykit.serialization import detect_format, load
    from deploykit.serialization import model_file as existing_file

    frame = read_table(path)
    if target not in frame.columns:
        raise InvalidInputError(
            f"--target {target!r} is not a column of '{path}'. Its columns: "
            f"{', '.join(map(str, frame.columns[:20]))}."
        )
    existing = existing_file(model_file)
    fmt = model_format or detect_format(existing)
    model = load(existing, format=fmt, trusted=Settings.from_env().skops_trusted)
    # a first version has no production: evaluate says so in the report's production_note
    return evaluate(model, frame.drop(columns=[target]), frame[target], against=reg, name=name)


@app.command(cls=_Command)
def versions(
    name: NameArgument,
    as_json: JsonOption = False,
) -> None:
    """List a model's versions, oldest first, with metrics and live marker."""
    with _registry() as reg:
        found = reg.versions(name)
    _show(found, as_json, lambda rows: render.versions_table(name, rows))


@app.command(cls=_Command)
def status(
    name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="One model; every model if left out.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Each model's health badge (serving, idle, errors, alert, rolled back...) and why.

    The rule is the console's and the JupyterLab sidebar's; serving figures need a server
    (DEPLOYKIT_SERVER_URL): the embedded registry says "deployed" instead.
    """
    from deploykit.monitoring.health import model_health

    settings = Settings.from_env()
    with _registry() as reg:
        names = [name] if name is not None else [m.name for m in reg.models()]
        rows = []
        for model in names:
            badge = model_health(reg, model, measured=settings.server_url is not None)
            rows.append(
                {
                    "model": model,
                    "live_version": reg.model(model).production,
                    "status": badge.status,
                    "status_detail": badge.detail,
                }
            )
    _show(rows, as_json, render.status_table)


@app.command(cls=_Command)
def deploy(
    name: NameArgument,
    version: Annotated[
        str, typer.Argument(metavar="VERSION", help="Version number, 'latest' or an alias.")
    ],
    alias: AliasOption = "production",
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point an alias ('production' by default) at a version."""
    with _registry() as reg:
        before = _current(reg, name, alias)
        moved = reg.deploy(name, version, alias=alias, reason=reason)
    _show(moved, as_json, lambda alias: render.moved("deployed", alias, before))


@app.command(cls=_Command)
def rollback(
    name: NameArgument,
    to: Annotated[int | None, typer.Option("--to", help="Version to return to.")] = None,
    alias: AliasOption = "production",
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move an alias back to the version it held before (or to --to VERSION)."""
    with _registry() as reg:
        before = _current(reg, name, alias)
        moved = reg.rollback(name, to=to, alias=alias, reason=reason)
    _show(moved, as_json, lambda alias: render.moved("rolled back", alias, before))


@app.command(cls=_Command)
def estimated(
    name: NameArgument,
    since: Annotated[
        str, typer.Option("--since", help="How far back: 30m, 24h, 7d (or seconds).")
    ] = "24h",
    step: Annotated[
        str | None, typer.Option("--step", help="One row per window of this length: 1h, 10m.")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", "-v", help="Version (default: production's, else the latest)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """A version's metrics estimated from logged scores, before labels arrive (with a
    90% band; realized beside them where feedback exists)."""
    from datetime import datetime, timezone

    from deploykit.cli.estimated import window_lines
    from deploykit.monitoring.periods import flag_period

    start, until, window = flag_period(since, step, datetime.now(timezone.utc))
    with _registry() as reg:
        number = None if version is None else reg.version(name, version).version
        result = reg.estimated_performance(
            name, since=start, until=until, step=window, version=number
        )
    if as_json:
        _print_json(result)
        return
    typer.echo(str(result))
    for line in window_lines(result):
        typer.echo(line)


@app.command(cls=_Command)
def events(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Only this model's events.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="How many, newest first.")] = (
        50
    ),
    as_json: JsonOption = False,
) -> None:
    """Show the audit log: who pushed, deployed or rolled back what, when and why."""
    with _registry() as reg:
        found = reg.events(name, limit=limit)
    _show(found, as_json, render.events_table)


@app.command(cls=_Command)
def demo(
    traffic: Annotated[
        bool,
        typer.Option(
            help="Play ~30 s of live traffic that drifts, fires an alert and auto-rolls back."
        ),
    ] = True,
) -> None:
    """A demo model with versions, serving history, drift, an alert and an auto-rollback."""
    from deploykit.demo import DEMO_MODEL, seed_demo
    from deploykit.demo_traffic import run_demo

    settings = Settings.from_env()
    if traffic:
        run_demo(settings, echo=typer.echo)
    else:
        from deploykit.registry import Registry

        with Registry(settings) as reg:
            seed_demo(reg)
    from deploykit.registry import Registry

    with Registry(settings) as reg:
        render.versions_table(DEMO_MODEL, reg.versions(DEMO_MODEL))


@app.command()
def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be removed; remove nothing.")
    ] = False,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Keep anything younger (a push in progress): 3600, 90m, 1h, 2d.",
        ),
    ] = "1h",
    force: Annotated[
        bool, typer.Option("--force", help="Even if the database references none of the blobs.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove artifact blobs no version references and dead .part files left by crashes.

    Works on DEPLOYKIT_DATABASE_URL and DEPLOYKIT_ARTIFACTS_URL directly (a local folder
    or S3), never through a server.
    """
    from deploykit.cli.gc import gc_report
    from deploykit.monitoring.periods import parse_duration
    from deploykit.registry import Registry

    seconds = parse_duration(older_than, "--older-than")
    with Registry(Settings.from_env()) as reg:
        report = reg.gc(older_than=seconds, dry_run=dry_run, force=force)
    _show(report, as_json, gc_report)


HostOption = Annotated[str, typer.Option("--host", help="Interface to listen on.")]
PortOption = Annotated[int, typer.Option("--port", "-p", min=1, max=65535)]
WorkersOption = Annotated[
    int, typer.Option("--workers", "-w", min=1, help="Server processes sharing the port.")
]
GrpcPortOption = Annotated[
    int | None,
    typer.Option(
        "--grpc-port",
        min=1,
        max=65535,
        help="Also serve Open Inference v2 over gRPC on this port (needs grpcio).",
    ),
]


def _server_config(host: str, port: int, workers: int) -> Any:
    from deploykit.server import ServerConfig

    return ServerConfig.from_env(host=host, port=port, workers=workers)


def _server_options_epilog() -> str:
    from deploykit.server.config import ServerConfig

    names = ", ".join(
        f.name
        for f in dataclasses.fields(ServerConfig)
        if f.name not in ("host", "port", "workers")
    )
    return (
        "Other options come from DEPLOYKIT_SERVE_<OPTION> environment variables "
        f"(e.g. DEPLOYKIT_SERVE_MAX_BODY_BYTES=33554432): {names}."
    )


@app.command(cls=_Command, epilog=_server_options_epilog())
def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8765,
    workers: WorkersOption = 1,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="The model MLflow's /invocations scores (default: the only one served).",
        ),
    ] = None,
    grpc_port: GrpcPortOption = None,
) -> None:
    """Serve every model's 'production' version over HTTP until interrupted.

    Besides /v1, the server speaks MLflow's scoring protocol (/invocations) and the Open
    Inference Protocol v2 (/v2, and gRPC with --grpc-port)."""
    from deploykit import server
    from deploykit.cli.starting import check_port_free

    check_port_free(host, port, "--port")
    if grpc_port is not None:
        check_port_free(host, grpc_port, "--grpc-port")
    config = _server_config(host, port, workers).replace(
        **{k: v for k, v in (("model", model), ("grpc_port", grpc_port)) if v is not None}
    )
    settings = Settings.from_env()
    server.prepare(settings)  # the local admin token, created on first start: say where
    render.console.print(f"deploykit server on {config.url} ({workers} worker(s)); Ctrl+C stops")
    if config.grpc_port:
        render.console.print(f"Open Inference v2 over gRPC on {host}:{config.grpc_port}")
    render.console.print(
        f"admin token in {settings.home / 'token'} (mode 0600; deploykit.Client and "
        "%deploy target read it from there)",
        soft_wrap=True,  # a path stays whole, to copy
    )
    if config.model:
        _note_unknown_model(settings, config.model)
    sys.stdout.flush()  # piped to a log, the address must be there now, not at exit
    server.run(settings, config)


def _note_unknown_model(settings: Settings, name: str) -> None:
    """A --model typo shows at start, not at the first /invocations (it may still be
    pushed later, so this is a note, not an error)."""
    import difflib

    from deploykit.registry import Registry

    with Registry(settings) as reg:
        known = [m.name for m in reg.models()]
        if name in known and reg.model(name).production is not None:
            return
    if name in known:
        why = f"model {name!r} has no 'production' version yet"
    else:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        why = f"no model named {name!r} in this registry{hint}"
    render.console.print(
        f"note: --model: {why}; /invocations answers 404 until it is deployed.", soft_wrap=True
    )


@app.command(cls=_Command, epilog=_server_options_epilog())
def up(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8765,
    workers: WorkersOption = 1,
    console_port: Annotated[
        int, typer.Option("--console-port", min=1, max=65535, help="Where the console listens.")
    ] = 8766,
    console: Annotated[bool, typer.Option(help="Serve the Voila console too.")] = True,
    grpc_port: GrpcPortOption = None,
) -> None:
    """Start the server and the console on the configured registry, with a demo model.

    Every port is checked first: a busy one is an error before anything starts.
    """
    from deploykit import server
    from deploykit.cli.starting import banner, check_port_free
    from deploykit.demo import seed_demo, write_sample_request
    from deploykit.registry import Registry

    _private_process()
    check_port_free(host, port, "--port")
    if console:
        check_port_free(host, console_port, "--console-port")
    if grpc_port is not None:
        if grpc_port in (port, console_port if console else None):
            from deploykit.errors import ConfigurationError

            raise ConfigurationError(
                f"--grpc-port {grpc_port} is also the HTTP server's or the console's port; "
                f"give gRPC a port of its own, e.g. --grpc-port {max(port, console_port) + 1}."
            )
        check_port_free(host, grpc_port, "--grpc-port")
    settings = Settings.from_env()
    with Registry(settings) as reg:
        info = seed_demo(reg)
    sample = write_sample_request(settings.home)
    token = server.prepare(settings)
    config = _server_config(host, port, workers)
    if grpc_port is not None:
        config = config.replace(grpc_port=grpc_port)
    handle = None
    if console:
        from deploykit.console import serve as serve_console

        handle = serve_console(
            settings,
            port=console_port,
            server_url=config.url,
            host=host,
            log_path=settings.home / "console.log",
        )
    text = banner(
        database_url=settings.database_url,
        artifacts_url=settings.artifacts_url,
        model=info.name,
        production=info.production,
        server_url=config.url,
        console_url=handle.url if handle else None,
        console_log=settings.home / "console.log",
        sign_in_url=handle.sign_in_url(token) if handle else None,
        token_file=settings.home / "token",
        sample_file=sample,
        predict_needs_token=config.predict_requires_token,
    )
    if config.grpc_port:  # the same line as `deploykit serve --grpc-port` prints
        text = f"Open Inference v2 over gRPC on {host}:{config.grpc_port}\n{text}"
    # The banner waits until both answer, so what it suggests works when it appears.
    threading.Thread(
        target=_announce_when_ready, args=(config.url, handle, text), daemon=True
    ).start()
    try:
        server.run(settings, config)
    finally:
        if handle is not None:
            handle.stop()


def _private_process() -> None:
    """A long-running command writes only deploykit's own files (logs, data): 0600."""
    import os

    if os.name != "nt":
        os.umask(0o077)


def _announce_when_ready(url: str, handle: Any, banner: str) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    if handle is not None:
        try:
            handle.wait_ready(timeout=max(1.0, deadline - time.monotonic()))
        except DeployKitError as exc:
            render.console.print(f"the console did not start: {exc}")
    render.console.print(banner)
    sys.stdout.flush()  # piped to a log, the URLs must be there now, not at exit


@app.command("console", cls=_Command)
def console_command(
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535)] = 8766,
    server_url: Annotated[
        str | None,
        typer.Option(
            "--server", help="The deploykit server (default: DEPLOYKIT_SERVER_URL, then :8765)."
        ),
    ] = None,
    preheat: Annotated[
        bool, typer.Option(help="Run the console notebook before the first visit.")
    ] = True,
    cull_seconds: Annotated[
        int,
        typer.Option(
            "--cull-seconds",
            min=10,
            help="Stop a page's kernel once no browser has shown it for this long.",
        ),
    ] = 120,
    frame_ancestors: Annotated[
        list[str] | None,
        typer.Option(
            "--frame-ancestors",
            help="An origin allowed to show the console in a frame, such as a JupyterLab's "
            "http://127.0.0.1:8888 (repeatable).",
        ),
    ] = None,
) -> None:
    """Serve the team console (Voila) for a deploykit server until interrupted.

    Visitors sign in with their own deploykit token; the console holds none."""
    from deploykit.cli.starting import check_port_free
    from deploykit.console import serve as serve_console

    _private_process()
    check_port_free(host, port, "--port")
    settings = Settings.from_env()
    log = settings.ensure_home() / "console.log"
    # `kill` (SIGTERM) stops it as Ctrl+C does, also where SIGINT is ignored (a background
    # job of a non-interactive shell): Voila and its kernels are stopped, never orphaned.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    handle = serve_console(
        settings,
        port=port,
        server_url=server_url,
        host=host,
        preheat=preheat,
        log_path=log,
        cull_seconds=cull_seconds,
        frame_ancestors=tuple(frame_ancestors or ()),
    )
    try:
        handle.wait_ready()
        target = (server_url or settings.server_url or "http://127.0.0.1:8765").rstrip("/")
        render.console.print(
            f"deploykit console on {handle.url} for {target} (log: {log}); Ctrl+C stops"
        )
        handle.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()


token_app = typer.Typer(help="Access tokens for the server (viewer, deployer, admin).")
app.add_typer(token_app, name="token")


class _LocalTokens:
    """Tokens in the embedded registry's database, shaped like the Client's token calls."""

    def __init__(self, settings: Settings) -> None:
        from deploykit.registry import Registry
        from deploykit.server.auth import TokenStore

        self._settings = settings
        self._registry = Registry(settings)
        self._store = TokenStore(self._registry.engine)

    def create_token(self, role: str, *, name: str = "") -> str:
        return self._store.create(role, name=name, created_by=self._settings.actor)[0]

    def tokens(self) -> list[dict[str, Any]]:
        return [t.to_dict() for t in self._store.list()]

    def revoke_token(self, token_id: int) -> dict[str, Any]:
        return self._store.revoke(token_id).to_dict()

    def __enter__(self) -> _LocalTokens:
        return self

    def __exit__(self, *exc: object) -> None:
        self._registry.close()


def _tokens() -> Client | _LocalTokens:
    """Token calls on the server (DEPLOYKIT_SERVER_URL, an admin token) or the local database."""
    settings = Settings.from_env()
    if settings.server_url:
        from deploykit.backend import open_client

        return open_client(settings)
    return _LocalTokens(settings)


@token_app.command("create", cls=_Command)
def token_create(
    role: Annotated[str, typer.Option("--role", help="viewer, deployer or admin.")],
    name: Annotated[str, typer.Option("--name", help="Who or what holds it.")] = "",
) -> None:
    """Create a token; its secret is printed once and stored only hashed."""
    with _tokens() as store:
        typer.echo(store.create_token(role, name=name))


@token_app.command("list", cls=_Command)
def token_list(as_json: JsonOption = False) -> None:
    """List tokens (never their secrets): id, name, role, who created them, revoked or not."""
    with _tokens() as store:
        found = store.tokens()
    _show(found, as_json, render.tokens_table)


@token_app.command("revoke", cls=_Command)
def token_revoke(
    token_id: Annotated[
        int, typer.Argument(metavar="ID", help="The token's id (deploykit token list).")
    ],
    as_json: JsonOption = False,
) -> None:
    """Revoke a token: servers refuse it within a few seconds (they cache checks briefly)."""
    with _tokens() as store:
        info = store.revoke_token(token_id)
    if as_json:
        _print_json(info)
    else:
        render.console.print(f"revoked token {info['id']} ({info['name']}, {info['role']})")


@app.command(cls=_Command)
def score(
    name: NameArgument,
    source: Annotated[
        str, typer.Argument(metavar="SOURCE", help="Input Parquet file (path or s3:// URL).")
    ],
    destination: Annotated[str, typer.Argument(metavar="DESTINATION", help="Output Parquet file.")],
    version: Annotated[str | None, typer.Option("--version", "-v", help="Version.")] = None,
    alias: Annotated[str | None, typer.Option("--alias", "-a", help="Or an alias.")] = None,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1)] = 65_536,
    proba: Annotated[bool, typer.Option("--proba", help="Add proba_<class> columns.")] = False,
    keep: Annotated[
        str | None, typer.Option("--keep", help="Input columns to copy (a,b); default all.")
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="chunked, or dask (writes a folder of parts).")
    ] = "chunked",
    as_json: JsonOption = False,
) -> None:
    """Score a Parquet file in chunks (bounded memory) with the production version."""
    from deploykit.cli.team import pick_ref, score_command

    with _registry() as reg:
        score_command(
            reg, name, source, destination, ref=pick_ref(version, alias),
            chunk_rows=chunk_rows, proba=proba, keep=keep, engine=engine, as_json=as_json,
        )  # fmt: skip


@app.command(cls=_Command)
def export(
    name: NameArgument,
    docker: Annotated[Path, typer.Option("--docker", help="Folder for the build context.")],
    version: Annotated[str | None, typer.Option("--version", "-v", help="Version.")] = None,
    alias: Annotated[str | None, typer.Option("--alias", "-a", help="Or an alias.")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Image name in k8s/.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the folder's content.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write a Docker build context and Kubernetes manifests serving one version."""
    from deploykit.cli.team import export_command, pick_ref

    with _registry() as reg:
        export_command(
            reg, name, ref=pick_ref(version, alias), directory=docker,
            image=image, force=force, as_json=as_json,
        )  # fmt: skip


@app.command(cls=_Command)
def card(
    name: NameArgument,
    version: VersionArgument = "production",
    diff: Annotated[
        str | None, typer.Option("--diff", help="Another version: what changed to it.")
    ] = None,
    revision: Annotated[
        int | None, typer.Option("--revision", help="A card revision (default: latest).")
    ] = None,
    html: Annotated[bool, typer.Option("--html", help="HTML instead of Markdown.")] = False,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Amend a field: intended_use, out_of_scope, limitations, "
            "ethical_considerations, owners (comma-separated), notes. Repeatable.",
        ),
    ] = None,
    reason: ReasonOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> None:
    """Print a version's model card (Markdown), diff two versions, or amend the card."""
    from deploykit.cli.cards import card_command

    with _registry() as reg:
        card_command(
            reg, name, version, diff=diff, revision=revision, html=html,
            settings=settings or [], reason=reason, output=output,
        )  # fmt: skip


@app.command(cls=_Command)
def verify(
    name: NameArgument,
    version: VersionArgument = "production",
    full: Annotated[
        bool, typer.Option("--full", help="Install the whole lock, not the model's closure.")
    ] = False,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="pip's cache (default: pip's own).")
    ] = None,
    env_cache: Annotated[
        Path | None,
        typer.Option("--env-cache", help="Keep built environments here, reused for the same pins."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Rebuild the version's environment from its lock in a fresh venv and reproduce its
    reference predictions. Exit status 0 if they match, 1 if not (for CI)."""
    from deploykit.cli.cards import verify_command

    with _registry() as reg:
        ok = verify_command(
            reg, name, version, full=full, cache_dir=cache_dir, env_cache=env_cache,
            as_json=as_json,
        )  # fmt: skip
    if not ok:
        raise typer.Exit(1)


def _current(reg: Backend, name: str, alias: str) -> int | None:
    aliases: list[Alias] = reg.aliases(name)
    return next((a.version for a in aliases if a.name == alias), None)


def _register_experiments() -> None:
    from deploykit.cli.experiments import register

    register(app, _registry, _Command)


_register_experiments()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``deploykit`` script: deploykit errors become one line, exit 1.

    Usage errors are click's own (a usage line, exit 2).
    """
    try:
        app(args=argv, prog_name="deploykit")
    except DeployKitError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)
