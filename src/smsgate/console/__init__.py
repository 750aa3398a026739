"""The web console: an operator's single-page app and its JSON API under ``/console``.

``routes`` mounts it (static files and ``/console/api/…``), ``auth`` holds operators' passwords
and sessions, ``messages`` and ``dashboard`` tell what the store's ``history`` and ``reports``
hold.  Its SQL is the store's (``store.operators``, ``projects``, ``optouts``, ``history``,
``reports``); ``cli.operators`` holds the ``smsgate admin operator`` commands.
"""
