"""python -m alice_mcp: the `alice` command."""

from alice_mcp.cli import main

raise SystemExit(main())
