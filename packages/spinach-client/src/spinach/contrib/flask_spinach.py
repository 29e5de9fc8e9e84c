"""Flask extension: one Engine per app, an app context for each job, a ``flask spinach`` command.

    from spinach.contrib.flask_spinach import Spinach

    spinach = Spinach(app)          # or Spinach() then spinach.init_app(app) in a factory

    @spinach.task(name="welcome")
    def welcome(user_id): ...

    spinach.schedule("welcome", 42)

Config: ``SPINACH_BROKER`` (default ``RedisBroker()``, Redis on localhost) and
``SPINACH_NAMESPACE`` (default the app's name). Scheduling needs spinach-client only; the
``flask spinach`` command runs workers and needs spinach-worker. The API is that of
Spinach 0.0.25.
"""

from collections.abc import Callable
from typing import Any

import click
import flask
from flask.ctx import AppContext

from spinach import const, signals
from spinach.brokers.redis import RedisBroker
from spinach.contrib.command import run_workers
from spinach.engine import Engine
from spinach.exc import SpinachError
from spinach.job import Job
from spinach.task import Batch, Tasks

_NOT_INITIALIZED = "Spinach extension not initialized. Did you forget to call init_app?"


class Spinach:
    """The Spinach extension of a Flask app (or of several, with the app factory pattern).

    Subclasses may override the ``job_started``, ``job_finished`` and ``job_failed`` hooks:
    unlike receivers of the signals, which run in no set order, they run while the job's app
    context is pushed.
    """

    def __init__(self, app: flask.Flask | None = None) -> None:
        self.app = app
        # App contexts this extension pushed, by job; popped when the job finishes.
        self._contexts: dict[int, AppContext] = {}
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> None:
        """Create the app's Engine from its config, connect the job hooks, add the command."""
        if "SPINACH_BROKER" not in app.config:
            app.config["SPINACH_BROKER"] = RedisBroker()
        app.config.setdefault("SPINACH_NAMESPACE", app.name)
        engine = Engine(app.config["SPINACH_BROKER"], namespace=app.config["SPINACH_NAMESPACE"])
        app.extensions["spinach"] = engine
        self._connect(app, engine.namespace)
        app.cli.add_command(_workers_command(engine))

    def _connect(self, app: flask.Flask, namespace: str) -> None:
        def on_job_started(sender: str, *, job: Job, **kwargs: Any) -> None:
            if not flask.has_app_context():
                context = app.app_context()
                context.push()
                self._contexts[id(job)] = context
            self.job_started(job)

        def on_job_finished(sender: str, *, job: Job, **kwargs: Any) -> None:
            try:
                self.job_finished(job)
            finally:
                context = self._contexts.pop(id(job), None)
                if context is not None:
                    context.pop()

        def on_job_failed(sender: str, *, job: Job, err: BaseException, **kwargs: Any) -> None:
            if flask.has_app_context():  # failed while running: the job's context is pushed
                self.job_failed(job, err=err)
                return
            # Sent outside a run (a job abandoned by a dead worker, an unknown task): the hook
            # gets an app context of its own all the same.
            with app.app_context():
                self.job_failed(job, err=err)

        # Strong references: the receivers live as long as the app.
        signals.job_started.connect(on_job_started, sender=namespace, weak=False)
        signals.job_finished.connect(on_job_finished, sender=namespace, weak=False)
        signals.job_failed.connect(on_job_failed, sender=namespace, weak=False)

    @classmethod
    def job_started(cls, *args: Any, job: Job | None = None, **kwargs: Any) -> None:
        """Called when a job starts, once its app context is pushed (a hook for subclasses)."""

    @classmethod
    def job_finished(cls, *args: Any, job: Job | None = None, **kwargs: Any) -> None:
        """Called when a job finished, before its app context is popped (a hook for subclasses)."""

    @classmethod
    def job_failed(cls, *args: Any, job: Job | None = None, **kwargs: Any) -> None:
        """Called, in an app context, when a job failed for good (a hook for subclasses)."""

    @property
    def spin(self) -> Engine:
        """The Engine of this extension's app, or of the current app (app factory)."""
        app = self.app if self.app is not None else flask.current_app
        try:
            engine: Engine = app.extensions["spinach"]
        except (AttributeError, TypeError, KeyError, RuntimeError):
            raise RuntimeError(_NOT_INITIALIZED) from None
        return engine

    def register_tasks(self, app: flask.Flask, tasks: Tasks) -> None:
        """Attach `tasks` to the Engine of `app`."""
        try:
            engine: Engine = app.extensions["spinach"]
        except KeyError:
            raise RuntimeError(_NOT_INITIALIZED) from None
        engine.attach_tasks(tasks)

    # Shortcuts to the Engine, as in Spinach 0.0.25.

    @property
    def task(self) -> Callable[..., Any]:
        return self.spin.task

    @property
    def execute(self) -> Callable[..., Any]:
        return self.spin.execute

    @property
    def schedule(self) -> Callable[..., Job]:
        return self.spin.schedule

    @property
    def schedule_at(self) -> Callable[..., Job]:
        return self.spin.schedule_at

    @property
    def schedule_in(self) -> Callable[..., Job]:
        """Not in Spinach 0.0.25: schedule after a delay measured by Redis's clock."""
        return self.spin.schedule_in

    @property
    def schedule_batch(self) -> Callable[[Batch], list[Job]]:
        return self.spin.schedule_batch


def _workers_command(engine: Engine) -> click.Command:
    @click.command(name="spinach", help="Run Spinach workers (needs spinach-worker).")
    @click.option(
        "--threads",
        type=int,
        default=const.DEFAULT_WORKER_NUMBER,
        show_default=True,
        help="Number of worker threads to launch",
    )
    @click.option("--queue", default=const.DEFAULT_QUEUE, show_default=True, help="Queue to run")
    @click.option(
        "--stop-when-queue-empty", is_flag=True, default=False, help="Stop once the queue is empty"
    )
    @click.option(
        "--shutdown-timeout",
        type=float,
        default=const.DEFAULT_SHUTDOWN_TIMEOUT,
        show_default=True,
        help="On Ctrl-C or SIGTERM, how long running jobs may take to finish (seconds)",
    )
    def spinach_run_workers(
        threads: int, queue: str, stop_when_queue_empty: bool, shutdown_timeout: float
    ) -> None:
        if threads < 1:
            raise click.BadParameter("must be at least 1", param_hint="--threads")
        try:
            run_workers(
                engine,
                click.echo,
                number=threads,
                queue=queue,
                stop_when_queue_empty=stop_when_queue_empty,
                shutdown_timeout=shutdown_timeout,
            )
        except SpinachError as e:  # no worker installed, or workers stopped on a fatal error
            raise click.ClickException(str(e)) from e

    return spinach_run_workers
