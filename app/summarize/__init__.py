"""LLM FAQ summaries: the model client, prompts, the summary service and the extractive fallback."""
