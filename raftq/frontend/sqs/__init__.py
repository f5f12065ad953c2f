"""The SQS-compatible API on the frontend's port: boto3, the AWS CLI and other SQS clients work
with only the endpoint changed (../shared/notes/sqs.md).

- `server.py`   tells the two wire protocols apart, verifies SigV4, runs the action.
- `json_protocol.py` / `query_protocol.py`   AWS JSON 1.0 and the form-encoded query protocol
  with XML answers; both turn a request into one JSON-shaped dict and back, so every action is
  written once.
- `*_actions.py`  the actions, over the frontend's pipeline (authorize, throttle, seal, forward).
- `errors.py`     raftq errors -> SQS shape, legacy code and HTTP status, in one table.
"""
