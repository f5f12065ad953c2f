"""The chaos suite (issue 8): a Jepsen-style harness for the compose deployment (docs/deploy.md).

history.py records what workload clients did, workload.py drives them, checker.py decides what
the history proves; see conftest.py for how these tests are run.
"""
