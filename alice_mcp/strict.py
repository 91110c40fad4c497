"""Strict tool arguments: an argument name a tool does not have is refused before anything runs."""

from __future__ import annotations

import difflib
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult


class AliceServer(MCPServer):
    """MCPServer with strict arguments: every input schema says additionalProperties: false, and
    a call naming an argument the tool does not have is refused before anything runs (the SDK
    would drop it silently: `dryRun` would really move files)."""

    _arguments: dict[str, list[str]] | None = None  # tool -> its argument names, built lazily

    def add_tool(self, *args: Any, **kwargs: Any) -> None:
        super().add_tool(*args, **kwargs)
        self._arguments = None

    def remove_tool(self, name: str) -> None:
        super().remove_tool(name)
        self._arguments = None

    async def list_tools(self):  # noqa: ANN201 - the SDK's list of tools
        tools = await super().list_tools()
        for tool in tools:
            tool.input_schema = {**tool.input_schema, "additionalProperties": False}
        return tools

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context | None = None) -> CallToolResult | InputRequiredResult:
        if self._arguments is None:
            self._arguments = {t.name: list(t.input_schema.get("properties", {}))
                               for t in await super().list_tools()}
        valid = self._arguments.get(name)
        if valid is not None:
            for given in arguments:
                if given not in valid:
                    raise ToolError(unknown_argument(given, valid))
        return await super().call_tool(name, arguments, context)


def unknown_argument(given: str, valid: list[str]) -> str:
    """'unknown argument 'dryRun'; did you mean 'dry_run'?' (or the list of valid names)."""
    def squash(name: str) -> str:
        return name.replace("_", "").replace("-", "").lower()
    same = [v for v in valid if squash(v) == squash(given)]
    guess = same or difflib.get_close_matches(given, valid, n=1, cutoff=0.5)
    if guess:
        return f"unknown argument {given!r}; did you mean {guess[0]!r}? Nothing was done."
    takes = f"this tool takes: {', '.join(valid)}" if valid else "this tool takes no arguments"
    return f"unknown argument {given!r}; {takes}. Nothing was done."
