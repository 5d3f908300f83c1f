"""The real-time hub: wire protocol, subscriptions, fan-out, brokers, presence.

The I/O-free core (``codec``, ``frames``, ``sequencer``, ``recovery``,
``outbox``, ``ratelimit``, ``presence``) is plain classes that tests drive
synchronously; ``hub``, ``connection``, ``group_commit`` and ``brokers`` are
the thin asyncio layer around it. docs/protocol.md is the contract.
"""
