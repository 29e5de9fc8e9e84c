"""The Spinach web dashboard: see and operate the queues of a namespace from a browser.

`create_app(engine)` returns a WSGI application to mount in Flask or Django, or to serve with
`spinach dashboard`. Pages render on the server; every value from Redis is escaped.
"""

from spinach_dashboard.app import Authorize, Dashboard, create_app

__version__ = "0.1.0"

__all__ = ["Authorize", "Dashboard", "__version__", "create_app"]
