"""gunicorn settings for the desk: gthread workers, threads for live streams, no preload."""

import os

bind = os.environ.get("PEAKTRADE_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("PEAKTRADE_WORKERS", "2"))
# A live stream holds a thread for its whole life: each worker needs more threads than
# its stream cap (config web.max_streams_per_worker, default 150) so that page and API
# requests are still answered when the cap is reached. 2 x 192 covers 200+ streams.
threads = int(os.environ.get("PEAKTRADE_THREADS", "192"))
max_requests = 0
preload_app = False
# Streams never finish on their own: a restart waits only briefly for them, and the
# browsers reconnect with Last-Event-ID.
graceful_timeout = 5
timeout = 30
keepalive = 5
accesslog = "-"
# No runtime control socket: several desks (and the tests' servers) run side by side.
control_socket_disable = True


def post_worker_init(worker):
    """Compile every template before the worker takes requests.

    Compiling the timeline's templates costs ~50 ms (more under load); done by the first
    page request of each worker, it made that request the slowest of all.
    """
    env = getattr(worker.wsgi, "jinja_env", None)
    if env is None:
        return
    for name in env.list_templates(extensions=("html",)):
        env.get_template(name)


# Sidecars: ONE process each next to the server (not one per worker), started by the
# master when it is ready and stopped when it exits. The demo feed (PEAKTRADE_DEMO=0 turns
# it off), and, when a route sends orders to a broker, the reconciler that journals what
# the broker did (acknowledgements, fills, cancels), starting with what happened while
# the server was down.
_sidecars = {}


def when_ready(server):
    import subprocess
    import sys
    from pathlib import Path

    from peaktrade.config import ConfigError, load_config
    from peaktrade.execution.brokers import brokers_for, sends_orders

    try:
        config = load_config()
        sends = any(map(sends_orders, brokers_for(config).values()))
    except ConfigError as err:
        server.log.error("no demo feed nor reconciler started: %s", err)
        return
    script = Path(sys.executable).with_name("peaktrade")
    entry = [str(script)] if script.exists() else \
        [sys.executable, "-c", "from peaktrade.cli import main; main()"]
    # No demo quotes in live mode: they would mark real positions.
    wanted = {"demo feed": (config["demo"]["enabled"] and config["mode"] != "live", ["demo"]),
              "reconciler": (sends, ["reconcile", "--follow"])}
    for name, (enabled, args) in wanted.items():
        if enabled:
            process = subprocess.Popen([*entry, *args, "--parent-pid", str(os.getpid())])
            _sidecars[name] = process
            server.log.info("%s started (pid %s)", name, process.pid)


def on_exit(server):
    import subprocess

    for process in _sidecars.values():
        if process.poll() is None:
            process.terminate()
    for process in _sidecars.values():
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _sidecars.clear()
