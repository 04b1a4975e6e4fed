"""gunicorn's settings file: gunicorn reads ./gunicorn.conf.py of its working directory by itself
(the Dockerfile's and `make run`'s commands start in the repo root). Flags given on the command
line still win over what is set here."""


def post_fork(server, worker):
    """Each web worker gets its share of the cores for native threads (ml_pipeline/threads.py):
    without it, every worker's LightGBM and XGBoost pools took every core, and 8 concurrent
    predictions on 2 cores waited on each other (issue 16). Runs before the worker imports the app,
    so the environment alone sizes the libraries it loads."""
    from ml_pipeline.threads import size_native_threads

    threads = size_native_threads(server.cfg.workers)
    server.log.info("worker %s: %s native thread(s)", worker.pid, threads or "library default")
