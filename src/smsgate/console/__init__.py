"""The web console: an operator's single-page app and its JSON API under ``/console``.

``routes`` mounts it (static files and ``/console/api/…``), ``auth`` holds operators and their
sessions, ``queries`` the read SQL, ``writes`` the few store writes the store itself lacks,
``cli`` the ``smsgate admin operator`` commands.
"""
