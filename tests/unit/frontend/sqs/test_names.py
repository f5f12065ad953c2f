from __future__ import annotations

import pytest

from raftq.common.errors import InvalidParameter, QueueNotFound
from raftq.frontend.sqs.names import checked_name, name_of_arn, name_of_url, queue_arn, queue_url


def test_urls_and_arns_have_sqs_shapes_and_read_back() -> None:
    url = queue_url("http", "localhost:9324", "orders.fifo")
    assert url == "http://localhost:9324/000000000000/orders.fifo"
    assert name_of_url(url) == "orders.fifo"
    assert name_of_url("orders") == "orders"  # a bare name, as moto and ElasticMQ allow
    assert name_of_arn(queue_arn("orders"), "SourceArn") == "orders"


@pytest.mark.parametrize(
    "url",
    ["", "http://h/000000000000/", "http://h/000000000000/a/b", "http://h/a b", "../../etc",
     "http://h/000000000000/" + "x" * 81, "x.fifo.fifo", "héllo", "not a url", "s3://bucket/key"],
)  # fmt: skip
def test_what_is_not_a_queue_url_names_no_queue(url: str) -> None:
    # SQS answers AWS.SimpleQueueService.NonExistentQueue, not a complaint about the shape.
    with pytest.raises(QueueNotFound, match=r"^The specified queue does not exist\.$"):
        name_of_url(url)


def test_another_account_has_no_queues() -> None:
    with pytest.raises(QueueNotFound):
        name_of_url("http://h/123456789012/orders")
    with pytest.raises(QueueNotFound):
        name_of_arn("arn:aws:sqs:us-east-1:123456789012:orders", "SourceArn")


@pytest.mark.parametrize("name", ["a" * 80, "a" * 75 + ".fifo", "A-b_9"])
def test_names_up_to_80_characters_with_the_suffix_counted(name: str) -> None:
    assert checked_name(name) == name


@pytest.mark.parametrize("name", ["a" * 81, "a" * 76 + ".fifo", "", "a.b", "a/b", "ä"])
def test_other_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidParameter):
        checked_name(name)


def test_arns_must_be_sqs_arns() -> None:
    for arn in ("orders", "arn:aws:sns:us-east-1:000000000000:orders", "arn:aws:sqs:x:0:a:b"):
        with pytest.raises((InvalidParameter, QueueNotFound)):
            name_of_arn(arn, "SourceArn")
