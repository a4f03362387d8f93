"""Optional integrations with other libraries, each imported only by the app that uses
it (like Flask-Dance's ``contrib``): :mod:`.celery` queues the library's mail."""
