# Sourced by scripts/test: SQS clients that cannot share the dev environment, each in its own
# virtual environment beside it (a query-era boto3, the AWS CLI with its pinned botocore).
# Exports RAFTQ_QUERY_BOTO3_PYTHON and RAFTQ_AWS_CLI for tests/integration/test_sqs_*.py.
sqs_clients="${venv}-sqs-clients"
for client in query-era awscli; do
  requirements="$root/tests/sqs_clients/requirements-$client.txt"
  client_venv="$sqs_clients/$client"
  stamp="$client_venv/.installed-$(sha256sum < "$requirements" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    rm -rf "$client_venv"
    "$python" -m venv "$client_venv"
    "$client_venv/bin/python" -m pip install --quiet -r "$requirements"
    touch "$stamp"
  fi
done
export RAFTQ_QUERY_BOTO3_PYTHON="$sqs_clients/query-era/bin/python"
export RAFTQ_AWS_CLI="$sqs_clients/awscli/bin/aws"
