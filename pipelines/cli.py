"""``mediaframe``: one command, one pattern for every stage.

    mediaframe <stage> [--config FILE] [--input PATH...] [--output DIR] [--set key=value ...]

Each stage is one ``Stage`` row in ``STAGES`` (its help, its default config, its own flags
and a short ``run``), and the parser and the dispatch are loops over that table. Other
packages add commands through the ``mediaframe.commands`` entry-point group, so a command
such as ``benchmark`` lives in ``bench`` without this layer importing it.

Errors a user can fix (a bad config key, a missing column, an unknown model, a path that
cannot be written, a full disk) are printed as one line naming the file, row or key and
the cause, with exit code 2, not as a traceback; ``--debug`` (or MEDIAFRAME_DEBUG=1)
shows the traceback. ``error_line`` is that one path for every stage and plugin.
"""

from __future__ import annotations

import argparse
import errno
import importlib.metadata
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from pipelines.stages import STAGES, Stage

EPILOG = (
    "MLflow: runs go to ./mlruns.db (artifacts in ./mlartifacts) unless --tracking-uri or "
    "MLFLOW_TRACKING_URI names another store."
)
PLUGIN_GROUP = "mediaframe.commands"


def add_common_options(
    p: argparse.ArgumentParser,
    default_config: str | None = None,
    inputs: bool = True,
    output: bool = True,
) -> None:
    """The options every command shares (plugins call it too): --config, --input,
    --output, --set and --tracking-uri."""
    default = f"{default_config}, if it exists" if default_config else "none"
    p.add_argument(
        "--config", metavar="FILE", help=f"YAML config for this command (default: {default})"
    )
    if inputs:
        p.add_argument("--input", nargs="+", metavar="PATH", help="input files or folders")
    if output:
        p.add_argument("--output", metavar="DIR", help="output directory")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set transformer.epochs=2 "
        "(repeatable; values are parsed as YAML)",
    )
    p.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///./mlruns.db)",
    )
    add_debug_option(p)


def add_debug_option(p: argparse.ArgumentParser, top: bool = False) -> None:
    """``--debug`` before or after the command; SUPPRESS keeps a command's parser from
    resetting the value ``mediaframe --debug`` set."""
    p.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="on an error, show the traceback instead of one line",
    )


def config_path(args: argparse.Namespace, stage: Stage) -> str | None:
    """The config file to read: ``--config`` must exist; the default is used if present."""
    if args.config:
        if not Path(args.config).is_file():
            from pipelines.config import ConfigError

            raise ConfigError(f"--config {args.config}: config file not found")
        return args.config
    default = stage.default_config.format(**vars(args)) if stage.default_config else None
    return default if default and Path(default).exists() else None


# --------------------------------------------------------------------------- ui
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def ui_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="bind address (default 127.0.0.1; any other address needs --expose)",
    )
    p.add_argument(
        "--expose",
        action="store_true",
        help="allow a non-loopback --host: anyone who can reach it reads and writes the "
        "store; run MLflow's basic-auth app in front (README, Security)",
    )
    p.add_argument("--tracking-uri", metavar="URI", help="store to serve")


def ui_command(args: argparse.Namespace) -> list[str]:
    """The `mlflow server` command line; refuses a non-loopback bind without --expose."""
    from pipelines import tracking

    if args.host not in LOOPBACK and not args.expose:
        raise ValueError(
            f"--host {args.host} would expose the tracking store (runs, models, pickled "
            "artifacts) to the network; add --expose to confirm, and put MLflow's "
            "basic-auth app in front (mlflow server --app-name basic-auth, see README)"
        )
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or tracking.default_uri()
    artifacts = (Path.cwd() / "mlartifacts").as_uri()
    return [
        *(sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri),
        *("--default-artifact-root", artifacts, "--host", args.host, "--port", str(args.port)),
    ]


UI_STOP_SECONDS = 10.0  # how long the server gets to exit after SIGTERM, before SIGKILL


def run_ui(args: argparse.Namespace) -> int:
    """Run `mlflow server` until it exits or this process is stopped.

    The server starts its own workers (gunicorn or uvicorn); stopping only the server, or
    only this process, would leave them answering on the port. So the server runs in a
    process group of its own (``start_new_session``), and SIGINT, SIGTERM or SIGHUP here,
    or any exit, stops the whole group: SIGTERM, then SIGKILL after ``UI_STOP_SECONDS``.
    """
    import signal
    import subprocess

    cmd = ui_command(args)
    print(f"MLflow UI on http://{args.host}:{args.port}  (Ctrl-C to stop)", flush=True)
    server = subprocess.Popen(cmd, start_new_session=True)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds to the finally below, in the main thread

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, stop) for sig in handled}
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_group(server)


def _stop_group(server) -> None:
    """SIGTERM to the server's process group, SIGKILL to what is left after the grace time.
    The group outlives the server process when a worker lingers, so it is signalled even
    after the server itself has exited."""
    import contextlib
    import signal
    import subprocess
    import time

    def signal_group(sig: int) -> bool:
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return False  # nothing left in the group
        return True

    if not signal_group(signal.SIGTERM):
        server.poll()
        return
    deadline = time.monotonic() + UI_STOP_SECONDS
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=UI_STOP_SECONDS)
    while time.monotonic() < deadline and signal_group(0):
        time.sleep(0.1)  # workers still shutting down
    signal_group(signal.SIGKILL)
    server.poll()


# --------------------------------------------------------------------------- parser
def plugins() -> list[ModuleType]:
    """Modules registered under ``mediaframe.commands``; none installed is fine, and one
    that cannot be imported is skipped with a warning so the stages still run."""
    found = []
    for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        try:
            found.append(ep.load())
        except ImportError as exc:
            print(f"mediaframe: command {ep.name!r} not available: {exc}", file=sys.stderr)
    return found


def _stage_runner(stage: Stage) -> Callable[[argparse.Namespace], int]:
    """The handler of a stage: find and load its config, then the stage's own ``run``."""

    def run(args: argparse.Namespace) -> int:
        from pipelines import config as C

        path = config_path(args, stage)
        args.config_used = path
        model = getattr(C, stage.config_class)
        defaults = {"task": args.task} if "task" in model.model_fields else {}
        cfg = C.load_config(model, path, args.set, **defaults)
        return stage.run(args, cfg)

    return run


def build_parser(extra: list[ModuleType] | None = None) -> argparse.ArgumentParser:
    """Every stage of ``STAGES``, ``ui``, and each plugin command (``extra``, default: the
    installed ones), each with its own ``--help``."""
    parser = argparse.ArgumentParser(
        prog="mediaframe",
        description="Turn raw news articles into trained, published media-framing and "
        "stance classifiers: ingest -> label -> train -> evaluate -> publish -> score.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version="mediaframe 0.1.0")
    add_debug_option(parser, top=True)
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for stage in STAGES:
        p = sub.add_parser(
            stage.name, help=stage.help, description=stage.description, epilog=EPILOG
        )
        add_common_options(p, stage.default_config, inputs=stage.inputs, output=stage.output)
        stage.add_arguments(p)
        p.set_defaults(handler=_stage_runner(stage))
    for plugin in plugins() if extra is None else extra:
        p = sub.add_parser(plugin.NAME, help=plugin.HELP, description=plugin.HELP, epilog=EPILOG)
        plugin.add_arguments(p)
        p.set_defaults(handler=plugin.run)
    p = sub.add_parser(
        "ui",
        help="open the MLflow UI over the project's store",
        description="Start `mlflow server` on 127.0.0.1 over ./mlruns.db.",
        epilog=EPILOG,
    )
    ui_arguments(p)
    add_debug_option(p)
    p.set_defaults(handler=run_ui, local=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", message=".*dataset source can be interpreted.*")
    warnings.filterwarnings("ignore", message=".*Found extra inputs in the model input.*")
    from pipelines import tracking
    from pipelines.config import ConfigError

    _quiet_libraries()
    try:
        if not getattr(args, "local", False):  # ui serves a store; it does not log to one
            args.tracking = tracking.configure(getattr(args, "tracking_uri", None))
        return args.handler(args)
    except Exception as exc:
        if args.debug or os.environ.get("MEDIAFRAME_DEBUG"):
            raise
        code, line = error_line(exc)
        # A bad --set is the flag's fault: "config error" would send the user to the file.
        config = isinstance(exc, ConfigError) and not line.startswith("--set ")
        kind = "config error" if config else "error"
        print(f"mediaframe {args.stage}: {kind}: {line}", file=sys.stderr)
        return code


# OS errors a user causes and can fix, with what to do about them.
_OS_HINTS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (over the file size limit, ulimit -f, or the disk's)",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EEXIST: "exists already (a file where a directory is needed?)",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EISDIR: "is a directory, not a file",
}


def one_line(message: object) -> str:
    """A message on one line: the problems of a config error joined with "; ", any other
    line breaks (a quoted YAML snippet) folded into spaces."""
    lines = [ln.strip() for ln in str(message).splitlines() if ln.strip()]
    if len(lines) > 1 and all(": key '" in ln for ln in lines):
        return "; ".join(lines)
    return " ".join(" ".join(lines).split())


def error_line(exc: BaseException) -> tuple[int, str]:
    """(exit code, one line) for any failure of a stage: 2 for what the user can fix (a
    config, an input, a path, the disk, the registry), 1 for a bug, which names itself
    and points at --debug rather than pretending to be the user's fault."""
    import mlflow

    if isinstance(exc, OSError) and exc.errno is not None:
        where = f"{exc.filename}" if exc.filename is not None else "(no file named)"
        if exc.filename2 is not None:
            where += f" -> {exc.filename2}"
        cause = _OS_HINTS.get(exc.errno, exc.strerror or str(exc))
        return 2, one_line(f"{where}: {cause}")
    if isinstance(exc, (ValueError, OSError, RuntimeError, mlflow.exceptions.MlflowException)):
        return 2, one_line(exc)
    if isinstance(exc, MemoryError):
        return 2, "out of memory (a smaller chunk_size, or fewer inputs at a time, may fit)"
    return 1, one_line(
        f"internal error {type(exc).__name__}: {exc} (a bug: rerun with --debug and report "
        "the traceback)"
    )


def _quiet_libraries() -> None:
    """Keep the terminal for our progress bars and summaries, not library chatter."""
    import logging

    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    logging.getLogger("mlflow.models.utils").setLevel(logging.ERROR)
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    # System metrics are on for every stage run; their start/stop lines are not news.
    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
