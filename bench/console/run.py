"""Console speed: first render and rollback, in Debian's Chromium driven by Playwright.

    .venv/bin/python bench/console/run.py                 # 20 models x 50 versions x 7 days
    .venv/bin/python bench/console/run.py --no-preheat    # every visit starts a kernel
    .venv/bin/python bench/console/run.py --home /tmp/fleet --rounds 5   # reuse a seeded fleet

A real deploykit server (LiveServer) on the seeded registry, the console served by
``deploykit.console.serve`` (Voila), and headless Chromium:

- first render: ``page.goto`` until every model's row is on the page (preheated kernels:
  Voila ran the notebook before the visit; the pool refills between rounds);
- rollback: Confirm clicked until (a) the server's ``production`` alias is the previous
  version (polled every 20 ms from another thread) and (b) the page says so;
- auto refresh: production moved by another client until the open page shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from seed import seed_fleet  # bench/console/seed.py: the script's folder is on sys.path

from deploykit.client import Client
from deploykit.console import serve
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer, free_port
from deploykit.settings import Settings

CHROMIUM = os.environ.get("DEPLOYKIT_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _settings(home: Path) -> Settings:
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="bench"
    )


def _poll_alias(client: Client, name: str, want: int, t0: float, out: dict[str, float]) -> None:
    while time.perf_counter() - t0 < 30:
        if client.model(name).production == want:
            out["server"] = time.perf_counter() - t0
            return
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-preheat", action="store_true")
    parser.add_argument("--home", type=Path, help="seed here once, reuse on later runs")
    parser.add_argument("--refill", type=float, default=25.0, help="s to let the pool refill")
    parser.add_argument("--screenshots", type=Path, help="save the pages as PNG here")
    parser.add_argument(
        "--json", type=Path, help="default: bench/results/console[-no-preheat].json"
    )
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="deploykit-console-bench-"))
    settings = _settings(home)
    seeded: dict[str, object] = {"reused": True}
    if not (home / "registry.db").exists():
        print(f"seeding {args.models} models x {args.versions} versions x {args.days} days ...")
        seeded = seed_fleet(settings, models=args.models, versions=args.versions, days=args.days)
        seeded.pop("models", None)
        print(f"  {seeded}")
    preheat = not args.no_preheat
    result: dict[str, object] = {
        "models": args.models,
        "versions": args.versions,
        "days": args.days,
        "preheat": preheat,
        "seed": seeded,
        "load_before": os.getloadavg()[0],
    }
    config = ServerConfig(telemetry_flush_seconds=1.0)
    with LiveServer(settings, config) as server:
        client = Client(server.url, token=server.token)
        port = free_port()
        log = home / "voila.log"
        with serve(
            settings,
            port=port,
            server_url=server.url,
            preheat=preheat,
            log_path=log,
        ) as console:
            console.wait_ready(timeout=120)
            if preheat:
                time.sleep(args.refill)  # the first preheated kernel runs the notebook
            renders = []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for i in range(args.rounds):
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    t0 = time.perf_counter()
                    # signed in with the operator's link: one more round trip and a whoami
                    page.goto(console.sign_in_url(server.token or ""), timeout=120_000)
                    page.wait_for_function(
                        f"() => document.querySelectorAll('.dk-open').length >= {args.models}",
                        timeout=120_000,
                    )
                    renders.append(time.perf_counter() - t0)
                    print(f"first render, round {i + 1}: {renders[-1]:.2f} s")
                    if i == 0 and args.screenshots:
                        page.screenshot(path=str(args.screenshots / "console-overview.png"))
                    if i < args.rounds - 1:
                        page.close()  # Voila shuts that kernel down
                        time.sleep(args.refill if preheat else 2)
                name = "model-00"
                t0 = time.perf_counter()
                page.locator(".dk-open", has_text=name).click()
                page.locator(".dk-model-heading").wait_for()
                page.wait_for_function(
                    "() => document.querySelectorAll('.dk-chart-latency .main-svg').length > 0",
                    timeout=60_000,
                )
                result["open_model_s"] = round(time.perf_counter() - t0, 2)
                print(f"open {name} (versions, charts): {result['open_model_s']:.2f} s")
                if args.screenshots:
                    page.screenshot(path=str(args.screenshots / "console-model.png"))
                heading = page.locator(".dk-model-heading")
                server_s, page_s, refresh_s = [], [], []
                for _ in range(args.rounds):
                    live = client.model(name).production
                    before = next(
                        e.from_version
                        for e in client.events(name, limit=20)
                        if e.to_version == live and e.action in ("deploy", "rollback")
                    )
                    page.locator(".dk-rollback").click()
                    page.locator(".dk-reason input").fill("bench")
                    out: dict[str, float] = {}
                    t0 = time.perf_counter()
                    watcher = threading.Thread(
                        target=_poll_alias, args=(client, name, before, t0, out)
                    )
                    watcher.start()
                    page.locator(".dk-confirm").click()
                    page.wait_for_function(
                        "([sel, text]) => document.querySelector(sel).innerText.includes(text)",
                        arg=[".dk-model-heading", f"production: version {before}"],
                        timeout=30_000,
                    )
                    page_s.append(time.perf_counter() - t0)
                    watcher.join()
                    server_s.append(out["server"])
                    print(
                        f"rollback {live} -> {before}: server {out['server']:.2f} s, "
                        f"page {page_s[-1]:.2f} s"
                    )
                    # Put it back from another client; the open page must follow on its own.
                    t0 = time.perf_counter()
                    client.deploy(name, live, reason="bench: restore")
                    heading.filter(has_text=f"production: version {live}").wait_for(timeout=30_000)
                    refresh_s.append(time.perf_counter() - t0)
                browser.close()
    client.close()
    result.update(
        {
            "first_render_s": [round(x, 2) for x in renders],
            "first_render_median_s": round(statistics.median(renders), 2),
            "rollback_server_s": [round(x, 3) for x in server_s],
            "rollback_page_s": [round(x, 3) for x in page_s],
            "auto_refresh_s": [round(x, 2) for x in refresh_s],
            "load_after": os.getloadavg()[0],
        }
    )
    out = args.json or Path(f"bench/results/console{'' if preheat else '-no-preheat'}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
