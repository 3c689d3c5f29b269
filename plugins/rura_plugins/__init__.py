"""rura's built-in plugins. Each module registers through the ``rura`` entry-point group,
exactly as a third-party distribution does; the core never imports this package."""
