"""Jobs: the contract models, the JobBoard's logic, its SQLite store and its Ray actor."""
