"""`make run`: migrate, load the starter catalog, serve with a worker; stop everything on a signal."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optiroute.settings")


def _admin_password(data_dir: Path) -> str:
    """The development admin password: from the environment, else generated once and kept."""
    if os.environ.get("OPTIROUTE_ADMIN_PASSWORD"):
        return os.environ["OPTIROUTE_ADMIN_PASSWORD"]
    stored = data_dir / "admin-password"
    if not stored.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        stored.write_text(secrets.token_urlsafe(12))
        stored.chmod(0o600)
    return stored.read_text().strip()


def prepare_database() -> None:
    """What every documented command needs: the database migrated and holding the starter catalog.
    `make run` and `make test` both do it, so either one leaves a fresh clone ready."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("import_models", verbosity=0)


def prepare() -> dict[str, str]:
    prepare_database()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from optiroute.embedded import DATA_DIR

    call_command("collectstatic", interactive=False, verbosity=0)
    password = _admin_password(DATA_DIR)
    user_model = get_user_model()
    admin, _ = user_model.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
    admin.set_password(password)
    admin.save()
    info = {"admin_user": "admin", "admin_password": password, "broker": settings.CELERY_BROKER_URL}
    key = _development_key()
    if key:
        info["api_key"] = key
    return info


def _development_key() -> str:
    try:
        from routing.access.keys import api_key_create
    except ImportError:
        return ""
    return api_key_create(cohort_name=None, label="make run development key")[1]


def gunicorn_command(host: str, port: int, *extra: str) -> list[str]:
    """How `make run` serves the web app, configured as in production (optiroute.gunicorn_conf);
    scripts/bench_gateway.py measures exactly this."""
    return [sys.executable, "-m", "gunicorn", "optiroute.wsgi", "--config", "python:optiroute.gunicorn_conf",
            "--bind", f"{host}:{port}", *extra]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--prepare-only", action="store_true",
                        help="migrate and load the starter catalog, then exit (make test uses it)")
    args = parser.parse_args()
    if args.prepare_only:
        prepare_database()
        return
    from optiroute.embedded import running

    already = running()  # settings start what is missing; stop only that on the way out
    info = prepare()
    _metrics_reset()
    python = sys.executable
    children = [
        subprocess.Popen(gunicorn_command(args.host, args.port, "--access-logfile", "-")),
        subprocess.Popen([python, "-m", "celery", "-A", "optiroute", "worker", "--beat", "--loglevel", "INFO",
                          "--concurrency", "1", "--schedule", str(Path(".data") / "celerybeat-schedule")]),
    ]
    url = f"http://{args.host}:{args.port}/"
    print(f"\nOptiRoute is serving on {url}\n  chat: {url}chat/   admin console: {url}console/  "
          f"(login {info['admin_user']} / {info['admin_password']})", flush=True)
    if "api_key" in info:
        print(f"  development API key: {info['api_key']}", flush=True)
    print("  Ctrl-C stops the server, the worker and the embedded services.\n", flush=True)
    _supervise(children, already)


def _metrics_reset() -> None:
    """Start the metrics of this run from zero: the series files of earlier processes go."""
    from django.conf import settings

    shutil.rmtree(settings.METRICS_DIR, ignore_errors=True)
    Path(settings.METRICS_DIR).mkdir(parents=True, exist_ok=True)


def _supervise(children: list[subprocess.Popen[bytes]], already: dict[str, bool]) -> None:
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.5)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
    from optiroute.embedded import stop_started

    stop_started(already)
    print("OptiRoute stopped.", flush=True)


if __name__ == "__main__":
    main()
