"""kvstore: a small persistent key-value store daemon built on netrpc.

A walk-through of everything a daemon author needs (docs/tutorial.md follows it):

* :mod:`daemons.kvstore.protocol`: program number, procedure numbers, XDR types, errors;
* :mod:`daemons.kvstore.store`: the SQLite file, written from worker threads;
* :mod:`daemons.kvstore.program`: the procedures (inline, worker-thread, async) and the
  change events;
* :mod:`daemons.kvstore.__main__`: the ``kvstored`` command (listeners, signals, logging);
* :mod:`daemons.kvstore.client`: the typed :class:`~daemons.kvstore.client.KVClient` and the
  ``python -m daemons.kvstore.client`` command.

The package itself imports nothing, so that ``python -m daemons.kvstore.client`` runs cleanly.
"""
