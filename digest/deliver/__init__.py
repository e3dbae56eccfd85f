"""Delivering: transports hand a message to the world (`smtp`, and `files` for an outbox
folder or the console, chosen in `transport`); `sender` sends a feed of stored messages over
a pool of connections at a bounded rate, retrying what the relay deferred, and records each
answer in the caller's ledger."""
