"""The ``lifecycle`` subcommands, by what they work on; importing a module registers its commands."""
