"""Celery: the app, its beat schedule, and the tasks (queues fetch, embed, summarize)."""
