"""Integrations with web frameworks and services, each imported only when asked for.

`spinach.contrib.flask_spinach` (Flask), `spinach.contrib.spinachd` (a Django app) and
`spinach.contrib.sentry_sdk_spinach` (Sentry, from spinach-worker): the import paths of
Spinach 0.0.25.
"""
