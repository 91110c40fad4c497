"""alice-mcp's benchmark suite: measures the project against its peers and its limits in one run."""
