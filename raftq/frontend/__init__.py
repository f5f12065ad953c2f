"""Stateless public frontend tier (aiohttp). Not built yet."""
