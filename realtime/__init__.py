"""The real-time hub: wire protocol, subscriptions, fan-out, brokers, presence.

``realtime.protocol`` is the sans-I/O core (``frames``, ``codec``,
``sequencer``, ``recovery``, ``outbox``, ``ratelimit``, ``presence``,
``wsframe``, ``errors``): plain classes that tests drive synchronously, which
import only the standard library, msgpack and each other. The asyncio layer around
it, one responsibility a module: ``hub`` (wires the parts; the server-side API),
``session`` (one client's frames), ``clients`` (this process's connections),
``connection`` and ``transport`` (one socket), ``fanout`` (the feed registry) and
``feeds`` (one channel's feed), ``cluster`` and ``control`` (the broker bridge and
the control topic), ``roster`` (presence), ``access`` (rights after account
changes), ``publish_limits``, ``housekeeping``, ``names``, ``tasks`` and
``brokers``. Publishes are stored by ``storage.batch_writer`` (group commit; the
appender for the database is chosen in ``storage.event_log``): realtime makes no
decision about the database dialect. docs/protocol.md is the contract.
"""
