"""The ``gatewatch`` command: a launcher that hands each subcommand to its package."""
