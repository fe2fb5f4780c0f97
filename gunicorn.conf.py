"""gunicorn settings for the desk: gthread workers, threads for live streams, no preload."""

import os

bind = os.environ.get("PEAKTRADE_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("PEAKTRADE_WORKERS", "2"))
threads = int(os.environ.get("PEAKTRADE_THREADS", "128"))
max_requests = 0
preload_app = False
graceful_timeout = 5
timeout = 30
keepalive = 5
accesslog = "-"
# No runtime control socket: several desks (and the tests' servers) run side by side.
control_socket_disable = True
