"""Worker entry: ``celery -A celery_worker worker``."""

from hcl_server import create_app

celery = create_app().extensions["celery"]
