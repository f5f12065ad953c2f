"""Every keyword of the SDK's main calls is documented where `help()` shows it, on both
clients, and the blocking client has every call of the asyncio one."""

from __future__ import annotations

import inspect

import pytest

from raftq.client.queue_attributes import QueueAttributes
from raftq.client.sdk import AsyncClient, Client


@pytest.mark.parametrize("client", [AsyncClient, Client])
@pytest.mark.parametrize("call", ["send", "receive", "create_queue", "messages"])
def test_every_keyword_is_in_the_docstring(client: type, call: str) -> None:
    method = getattr(client, call)
    documented = method.__doc__ or ""
    for name, parameter in inspect.signature(method).parameters.items():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY or name == "body":
            assert f"`{name}`" in documented, f"{client.__name__}.{call}: {name}"


def test_every_queue_attribute_is_documented_with_its_type() -> None:
    documented = QueueAttributes.__doc__ or ""
    for name in QueueAttributes.__annotations__:
        assert f"`{name}` (" in documented, name


def test_the_blocking_client_has_every_call() -> None:
    public = {n for n in dir(AsyncClient) if not n.startswith("_")}
    assert public <= {n for n in dir(Client) if not n.startswith("_")}
