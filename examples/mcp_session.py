"""A scripted MCP client session against `alice mcp-server` over stdio, as Claude Desktop would run it.

    python examples/mcp_session.py --inbox examples/inbox --organized examples/organized \
        --database examples/demo.duckdb
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters


async def session(inbox: Path, organized: Path, database: Path, save_to: Path | None) -> None:
    env = dict(os.environ, ALICE_PATHS__INBOX=str(inbox.resolve()),
               ALICE_PATHS__ORGANIZED=str(organized.resolve()),
               ALICE_PATHS__DATABASE=str(database.resolve()))
    server = StdioServerParameters(command=sys.executable, args=["-m", "alice_mcp", "mcp-server"],
                                   env=env)
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        print("tools:", ", ".join(t.name for t in tools))

        async def progress(done: float, total: float | None, message: str | None) -> None:
            print(f"  progress: {message}")

        plan = (await client.call_tool("organize", {"dry_run": True})).structured_content
        print(f"plan: {plan['organized']} to organize, {plan['duplicates']} duplicates")
        done = (await client.call_tool("organize", {}, progress_callback=progress)
                ).structured_content
        print(f"organized {done['organized']}, unchanged {done['unchanged']}")

        page = (await client.call_tool("search", {"query": "sort:stars", "limit": 3})
                ).structured_content
        print(f"search: {page['total']} assets; best three:")
        for hit in page["results"]:
            print(f"  {hit['asset_id'][:12]} {hit['source']:10} {hit['stars']} stars "
                  f"{(hit['prompt'] or '')[:40]}")

        if page["results"]:
            first = page["results"][0]["asset_id"]
            tagged = (await client.call_tool("tag", {"asset_ids": [first], "add": ["favourite"]})
                      ).structured_content
            print(f"tagged: {tagged['added']} tag added")
            view = await client.call_tool("view", {"asset_ids": [first], "size": 256})
            image = next(b for b in view.content if b.type == "image")
            if save_to:
                save_to.write_bytes(base64.b64decode(image.data))
                print(f"view: saved the thumbnail to {save_to}")
            similar = (await client.call_tool("find_similar", {"asset_id": first})
                       ).structured_content
            print(f"similar: {len(similar['results'])} look-alikes")

        stats = (await client.call_tool("stats", {})).structured_content
        print("stats:", {row["key"]: row["count"] for row in stats["by_source"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inbox", type=Path, default=Path("examples/inbox"))
    parser.add_argument("--organized", type=Path, default=Path("examples/organized"))
    parser.add_argument("--database", type=Path, default=Path("examples/demo.duckdb"))
    parser.add_argument("--save-thumbnail", type=Path)
    args = parser.parse_args()
    anyio.run(session, args.inbox, args.organized, args.database, args.save_thumbnail)


if __name__ == "__main__":
    main()
