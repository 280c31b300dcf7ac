"""The queue engine: commands as short units of work over the domain rules and the database."""
