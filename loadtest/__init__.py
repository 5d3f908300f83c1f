"""classhub load generator: bots that sign in, speak the real protocol and behave like a class.

Run ``python -m loadtest --help`` (or ``classhub loadtest --help``). The package
talks to a server over HTTP and WebSocket only, like any client; it imports
nothing from ``web``, ``realtime`` or ``storage`` (the bot accounts are made by
``classhub loadtest-setup``, run as a subprocess).
"""
