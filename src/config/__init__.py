"""The Django project: settings, the Celery app, urls, wsgi, gunicorn's settings.

Nothing is imported here: gunicorn's master imports config.gunicorn, and anything this file
loaded (the Celery app) would stay in the master and in every worker it forks, which then
served the previous release after a reload. The Celery app is loaded when Django starts by
taskqueue's AppConfig.ready().
"""
