"""Stateless public frontend tier (aiohttp): the REST API and the SQS-compatible API."""
