"""``python -m rura`` runs the CLI."""

from rura.cli import main

main()
