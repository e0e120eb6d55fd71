"""``python -m worker``: ``run`` (the default), ``demo``, ``local-stack`` and the operator commands of
:mod:`worker.ops.cli` (``provision``, ``presign``, ``submit``, ``dlq``)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any, Callable

import click
from botocore.exceptions import NoRegionError

from worker import __version__, owners
from worker.errors import SettingsError
from worker.logs import configure
from worker.ops.cli import COMMANDS
from worker.ops.delivery import DELIVERIES
from worker.region import NO_REGION, RegionError, ensure_region
from worker.settings import RUNTIMES, Settings, load_settings


class DefaultGroup(click.Group):
    """A group whose default command is ``run``: ``python -m worker --pool 6`` runs the worker."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            args = ["run", *args]
        return super().parse_args(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The group's help, then how to run the worker: ``run`` is what a bare ``python -m worker`` does."""
        super().format_help(ctx, formatter)
        command = self.commands["run"]
        sub = click.Context(command, info_name="run", parent=ctx)
        formatter.write_paragraph()
        formatter.write_text(
            "Running the worker (the default command): python -m worker [run] --pool 6 "
            "[OPTIONS]. Every option also reads the environment variable named in brackets; "
            "a flag wins."
        )
        command.format_options(sub, formatter)


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """One ``--flag`` per setting of worker.settings, generated from that one object so they never drift."""
    types: dict[type, Any] = {int: int, str: str, bool: click.BOOL}
    for name, kind, choices, doc in reversed(Settings.options()):
        command = click.option(
            Settings.flag_name(name),
            name,
            type=click.Choice(choices) if choices else types[kind],
            default=None,
            help=f"{doc} [{Settings.env_name(name)}]",
        )(command)
    return command


# the demo's and the local stack's: how S3 announces uploads on the embedded stack
delivery_option = click.option(
    "--delivery",
    type=click.Choice(DELIVERIES),
    default="sqs",
    show_default=True,
    help="how S3 announces uploads: straight to SQS, through SNS, or through EventBridge",
)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="media-worker")
def cli() -> None:
    """Media worker: S3 uploads → SQS → sandboxed PyAV transcodes → production bucket."""


@cli.command()
@settings_options
def run(**flags: Any) -> None:
    """Run the worker until SIGTERM/SIGINT (a second signal stops at once)."""
    stop, hard = threading.Event(), threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        (hard if stop.is_set() else stop).set()
        if sys.stderr.isatty():  # feedback for a person; the service logs the drain for everyone else
            click.echo(
                f"{signal.Signals(signum).name}: {'stopping now' if hard.is_set() else 'draining'}", err=True
            )

    # First: a SIGTERM during start-up then means "drain at once, exit 0", not death by signal.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    settings = _settings(flags)
    configure(settings.log_level, settings.log_format)
    from worker.parent.service import Service

    try:
        # Before any client: boto3 alone misses AWS_REGION and the instance's region (see worker.region).
        ensure_region()
        _require_runtime(settings)
        if stop.is_set():  # a SIGTERM during the start-up checks: nothing was taken, nothing to drain
            owners.release()
            return
        service = Service(settings)
    except (RegionError, NoRegionError):
        _fail(NO_REGION)
    except SettingsError as exc:
        _fail(str(exc))
    service.run(stop, hard)


@cli.command()
@click.option("--pool", type=int, default=2, show_default=True)
@click.option("--runtime", type=click.Choice(RUNTIMES), default="auto", show_default=True)
@click.option(
    "--timeout", type=float, default=300.0, show_default=True, help="give up after this many seconds"
)
@delivery_option
def demo(pool: int, runtime: str, timeout: float, delivery: str) -> None:
    """Process a generated sample set on an embedded local stack; exit 0 only if all went as expected."""
    configure("WARNING")
    from worker.local.demo import run_demo

    sys.exit(run_demo(pool, runtime, timeout, delivery))


@cli.command("local-stack")
@click.option("--port", type=int, default=5000, show_default=True)
@delivery_option
@click.option(
    "--raw-delivery/--no-raw-delivery",
    default=False,
    show_default=True,
    help="with --delivery sns: SNS raw message delivery",
)
def local_stack_cmd(port: int, delivery: str, raw_delivery: bool) -> None:
    """Keep a provisioned local S3/SQS/SNS/EventBridge (moto) running and print the environment for a worker."""
    configure("WARNING")
    from worker.local.demo import print_environment
    from worker.local.stack import local_stack

    with local_stack(port, name="local", delivery=delivery, raw_delivery=raw_delivery) as stack:
        print_environment(stack.environment())
        sys.stdout.flush()  # whoever reads this through a pipe needs it now, not at exit
        click.echo("# local stack running; Ctrl-C stops it", err=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


for _command in COMMANDS:
    cli.add_command(_command)


def _settings(flags: dict[str, Any]):
    try:
        return load_settings(flags)
    except SettingsError as exc:
        _fail(str(exc))


def _require_runtime(settings: Any) -> None:
    """The docker runtime (the default) needs an engine that answers and the sandbox image: without them
    the worker must not start (a host that silently ran hostile media unsandboxed would be worse)."""
    from worker.sandbox import runtime_problem

    problem = runtime_problem(settings)
    if problem:
        _fail(
            f"the docker runtime cannot start sandboxes: {problem}. Start the engine and build the image "
            f"{settings.sandbox_image} (scripts/build-images.sh), or set MEDIA_WORKER_RUNTIME=process "
            "(not isolated from hostile media) or auto (the demo's choice)"
        )
    if settings.runtime == "docker":
        from worker.sandbox.canary import canary_problem

        problem = canary_problem(settings)
        if problem:
            _fail(
                f"the docker runtime cannot run a job's sandbox here: {problem}. Check "
                "MEDIA_WORKER_SANDBOX_OCI_RUNTIME, MEDIA_WORKER_SANDBOX_PIDS_LIMIT, MEDIA_WORKER_SANDBOX_MEMORY_MB "
                f"and MEDIA_WORKER_SANDBOX_TMPFS_MB against this host, and the image {settings.sandbox_image}"
            )


def _fail(message: str) -> None:
    owners.release()  # the canary's lock: a restart loop must not leave one on /dev/shm each time
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="python -m worker")
