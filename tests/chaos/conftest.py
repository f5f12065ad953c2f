"""The chaos suite: unit tests of the harness (pure, always run) and the short matrix against the
compose deployment (test_matrix.py, which needs Docker: it builds the images and brings the
deployment up and down itself).

`RAFTQ_SKIP_DOCKER_CHAOS=1` skips the matrix on a developer's machine; in CI a skip is a failure
(tests/conftest.py), so CI always runs it.
"""
