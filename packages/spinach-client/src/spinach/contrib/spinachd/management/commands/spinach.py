"""``manage.py spinach``: run the workers of the project's engine (needs spinach-worker)."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from spinach import const
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

    def handle(self, *args: Any, **options: Any) -> None:
        if options["threads"] < 1:
            raise CommandError("--threads must be at least 1")
        try:
            spin.start_workers(
                number=options["threads"],
                queue=options["queue"],
                block=True,
                stop_when_queue_empty=options["stop_when_queue_empty"],
            )
        except SpinachError as e:  # no worker installed, or workers stopped on a fatal error
            raise CommandError(str(e)) from e
