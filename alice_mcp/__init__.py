"""alice-mcp: organize, index and search AI-generated images and videos."""

__version__ = "0.1.0"
