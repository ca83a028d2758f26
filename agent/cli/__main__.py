"""``python -m agent.cli``: the same as ``bin-agent``, for machines without the script."""

from agent.cli.main import main

main()
