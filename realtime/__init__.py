"""The real-time hub: wire protocol, subscriptions, fan-out, brokers, presence.

``realtime.protocol`` is the sans-I/O core (``frames``, ``codec``,
``sequencer``, ``recovery``, ``outbox``, ``ratelimit``, ``presence``,
``wsframe``, ``errors``): plain classes that tests drive synchronously, which
import only the standard library, msgpack and each other. ``hub``,
``connection``, ``feeds``, ``transport``, ``group_commit`` and ``brokers`` are
the asyncio layer around it. docs/protocol.md is the contract.
"""
