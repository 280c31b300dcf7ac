"""The Socket.IO adapter: who may connect, the `state` on connect, events after commit, commands."""
