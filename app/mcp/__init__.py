"""The MCP server for agents (see server.py)."""
