"""The queue server: engine, storage, REST and Socket.IO adapters, web pages."""
