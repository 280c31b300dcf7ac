"""The queue's rules as plain functions and small value types: no SQL, no Flask, no I/O."""
