"""The hub's sans-I/O core: bytes and frames in, decisions and bytes out.

Nothing here touches a socket, the database, the broker or the clock's event
loop, and nothing imports storage, web, uvicorn or websockets: only the
standard library, msgpack and this package (tests/test_architecture.py
asserts it). The asyncio glue around it lives in realtime/ (hub, connection,
feeds, transport). docs/protocol.md is the contract these modules implement.
"""
