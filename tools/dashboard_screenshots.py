"""Screenshots of the dashboard's main pages for the docs: docs/images/dashboard-*.png.

Run as ``uv run --locked --all-packages python tools/dashboard_screenshots.py`` (or
``just dashboard-screenshots``). It starts a throwaway redis-server on a free loopback port,
fills a demo namespace (queues with ready, delayed, running and failed jobs, live workers, a
periodic task and a concurrency limit), serves the dashboard with waitress on loopback, and
has headless Debian chromium (driven by Playwright, never a downloaded browser) take the
pictures.

The throughput chart shows the last hour, and a screenshot cannot wait an hour: the minutes
before this one are written into the queues' per-minute counters directly, in the format the
scripts keep them (see spinach_lua's history include); the current minute counts what the
demo's workers really did.
"""

import argparse
import logging
import math
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright
from redis_server import RedisServer

from spinach import Batch, Engine, RedisBroker, Tasks
from spinach.keys import queue_keys
from spinach_dashboard import create_app
from spinach_dashboard.server import served_in_thread

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]

tasks = Tasks()
release = threading.Event()


@tasks.task(name="billing:charge_card", queue="billing", max_retries=0)
def charge_card(order: int, amount: str, *, currency: str = "EUR") -> None:
    raise RuntimeError(f"card declined for order {order}: insufficient funds")


@tasks.task(name="billing:render_invoice", queue="billing", max_retries=2, max_concurrency=3)
def render_invoice(order: int) -> None:
    release.wait(60)


@tasks.task(name="billing:nightly_report", queue="billing", periodicity=timedelta(hours=1))
def nightly_report() -> None:
    pass


@tasks.task(name="billing:weekly_digest", queue="billing", periodicity=timedelta(days=7))
def weekly_digest() -> None:
    pass


@tasks.task(name="emails:send_welcome", queue="emails")
def send_welcome(user: int) -> None:
    release.wait(60)


@tasks.task(name="emails:bounce", queue="emails", max_retries=0)
def bounce(address: str) -> None:
    raise ConnectionError(f"SMTP 550 mailbox unavailable: {address}")


def fill(spin: Engine) -> None:
    """Jobs in every state the pages show."""
    batch = Batch()
    for order in range(1000, 1012):
        batch.schedule("billing:charge_card", order, f"{order / 10:.2f}", currency="EUR")
    for user in range(3):
        batch.schedule("emails:bounce", f"user{user}@example.com")
    spin.schedule_batch(batch)


def seed_history(spin: Engine, queue: str, scale: float, failing: float) -> None:
    """Counts for the 59 minutes before this one (see the module's docstring)."""
    client = spin.broker.client
    seconds, _ = client.time()
    now_minute = int(seconds) // 60
    key = queue_keys(spin.namespace, queue).stats
    for back in range(1, 60):
        minute = now_minute - back
        wave = 0.6 + 0.4 * math.sin(back / 7) + (0.5 if 20 <= back <= 26 else 0)
        processed = int(scale * wave)
        failed = int(processed * failing * (3 if 21 <= back <= 24 else 1))
        retried = failed // 2
        succeeded = processed - failed - retried
        client.hset(key, str(minute % 120), f"{minute}:{succeeded}:{failed}:{retried}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.CRITICAL)
    server = RedisServer()
    server.start(attempts=3)
    try:
        return shoot(server, args.out)
    finally:
        release.set()
        server.cleanup()


def shoot(server: RedisServer, out: Path) -> int:
    billing = Engine(RedisBroker.from_url(server.url), namespace="shop")
    billing.attach_tasks(tasks)
    emails = Engine(RedisBroker.from_url(server.url), namespace="shop")
    emails.attach_tasks(tasks)
    fill(billing)
    billing.start_workers(number=4, queue="billing", block=False)
    emails.start_workers(number=2, queue="emails", block=False)
    try:
        _wait(lambda: sum(q.failed for q in billing.status().queues) == 15)
        _wait(lambda: billing.status().periodic and billing.status().limits)
        billing.set_concurrency_limit("billing:render_invoice", 2)  # an operator's override
        billing.remove_periodic_task("billing:weekly_digest")  # paused by an operator
        for order in range(40):
            billing.schedule("billing:render_invoice", order)
        for user in range(25):
            billing.schedule("emails:send_welcome", user)
        for user in range(6):
            billing.schedule_in("emails:send_welcome", timedelta(minutes=10 + user), 100 + user)
        _wait(lambda: sum(len(w.running) for w in billing.status().workers) >= 4)
        seed_history(billing, "billing", 180, 0.04)
        seed_history(billing, "emails", 70, 0.02)
        app = create_app(billing, refresh_seconds=0)
        with served_in_thread(app, threads=4) as http:
            base = f"http://127.0.0.1:{http.effective_port}"
            job = billing.jobs("failed", "billing", limit=1).jobs[0]
            pages = {
                "overview": "/",
                "workers": "/workers",
                "failed": "/jobs?state=failed",
                "ready": "/jobs?state=ready&queue=emails",
                "delayed": "/jobs?state=delayed",
                "job": f"/jobs/{job.id}",
                "periodic": "/periodic",
                "limits": "/limits",
            }
            full_page = {"overview", "job"}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
                )
                context = browser.new_context(
                    viewport={"width": 1200, "height": 640}, timezone_id="Europe/Paris"
                )
                tab: Any = context.new_page()
                for name, path in pages.items():
                    tab.goto(base + path)
                    target = out / f"dashboard-{name}.png"
                    tab.screenshot(path=str(target), full_page=name in full_page)
                    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
                    print(f"{shown}: {target.stat().st_size // 1024} KiB")
                browser.close()
    finally:
        release.set()
        billing.stop_workers()
        emails.stop_workers()
    return 0


def _wait(predicate: Any, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the demo data did not settle in {timeout:g}s")
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
