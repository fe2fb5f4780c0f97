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
