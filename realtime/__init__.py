"""The real-time hub: wire protocol, subscriptions, fan-out, brokers, presence.

``realtime.protocol`` is the sans-I/O core (``frames``, ``codec``,
``sequencer``, ``recovery``, ``outbox``, ``ratelimit``, ``presence``,
``wsframe``, ``errors``): plain classes that tests drive synchronously, which
import only the standard library, msgpack and each other. ``hub``,
``connection``, ``feeds``, ``transport`` and ``brokers`` are the asyncio layer
around it. Publishes are stored by ``storage.batch_writer`` (group commit; the
appender for the database is chosen in ``storage.event_log``): realtime makes no
decision about the database dialect. docs/protocol.md is the contract.
"""
