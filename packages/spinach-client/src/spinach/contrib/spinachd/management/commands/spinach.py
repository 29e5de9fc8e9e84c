"""``manage.py spinach``: run the workers of the project's engine (needs spinach-worker)."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from spinach import const
from spinach.contrib.command import run_workers
from spinach.contrib.datadog import register_datadog_if_module_patched
from spinach.contrib.spinachd import settings as spinach_settings
from spinach.contrib.spinachd.apps import spin
from spinach.exc import SpinachError


class Command(BaseCommand):  # type: ignore[misc]  # Django ships no type hints
    help = "Run Spinach workers"

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--threads",
            type=int,
            default=spinach_settings.worker_number(),
            help="number of worker threads to launch (default: SPINACH_WORKER_NUMBER or "
            f"{const.DEFAULT_WORKER_NUMBER})",
        )
        parser.add_argument("--queue", default=const.DEFAULT_QUEUE, help="queue to consume")
        parser.add_argument(
            "--stop-when-queue-empty",
            action="store_true",
            default=False,
            help="stop once the queue is empty",
        )
        parser.add_argument(
            "--shutdown-timeout",
            type=float,
            default=const.DEFAULT_SHUTDOWN_TIMEOUT,
            metavar="SECONDS",
            help="on Ctrl-C or SIGTERM, how long running jobs may take to finish (default "
            f"{const.DEFAULT_SHUTDOWN_TIMEOUT:g})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["threads"] < 1:
            raise CommandError("--threads must be at least 1")
        # Trace the jobs with Datadog when ddtrace already traces Django (as 0.0.25 did).
        register_datadog_if_module_patched("django", namespace=spin.namespace)
        try:
            run_workers(
                spin,
                self.stdout.write,
                number=options["threads"],
                queue=options["queue"],
                stop_when_queue_empty=options["stop_when_queue_empty"],
                shutdown_timeout=options["shutdown_timeout"],
            )
        except SpinachError as e:  # no worker installed, or workers stopped on a fatal error
            raise CommandError(str(e)) from e
