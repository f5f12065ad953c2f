"""JSON schemas of the KEDA objects in deploy/k8s/ (its CRDs are not in Kubernetes' schemas)."""

from __future__ import annotations

# KEDA's CRDs are not in Kubernetes' schemas: the fields of keda.sh/v1alpha1 that KEDA's docs
# give for a ScaledObject with the aws-sqs-queue trigger and for a TriggerAuthentication.
_META = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
KEDA_SCHEMAS: dict[str, dict[str, object]] = {
    "ScaledObject": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "metadata": _META,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["scaleTargetRef", "triggers"],
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name"],
                        "properties": {
                            k: {"type": "string"}
                            for k in ("name", "kind", "apiVersion", "envSourceContainerName")
                        },
                    },
                    **{
                        k: {"type": "integer", "minimum": 0}
                        for k in (
                            "pollingInterval",
                            "cooldownPeriod",
                            "initialCooldownPeriod",
                            "idleReplicaCount",
                            "minReplicaCount",
                            "maxReplicaCount",
                        )
                    },
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["type", "metadata"],
                            "properties": {
                                "type": {"type": "string"},
                                "name": {"type": "string"},
                                "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                                "authenticationRef": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["name"],
                                    "properties": {
                                        "name": {"type": "string"},
                                        "kind": {
                                            "enum": [
                                                "TriggerAuthentication",
                                                "ClusterTriggerAuthentication",
                                            ]
                                        },
                                    },
                                },
                                "metadata": _STRINGS,
                            },
                            "if": {"properties": {"type": {"const": "aws-sqs-queue"}}},
                            "then": {
                                "properties": {
                                    "metadata": {
                                        "required": ["queueURL", "awsRegion"],
                                        "additionalProperties": False,
                                        "properties": {
                                            k: {"type": "string"}
                                            for k in (
                                                "queueURL",
                                                "queueURLFromEnv",
                                                "queueLength",
                                                "activationQueueLength",
                                                "awsRegion",
                                                "awsEndpoint",
                                                "identityOwner",
                                                "scaleOnInFlight",
                                                "scaleOnDelayed",
                                            )
                                        },
                                    }
                                }
                            },
                        },
                    },
                },
            },
        },
    },
    "TriggerAuthentication": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "metadata": _META,
            "spec": {
                "type": "object",
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["parameter", "name", "key"],
                            "properties": {
                                k: {"type": "string"} for k in ("parameter", "name", "key")
                            },
                        },
                    }
                },
            },
        },
    },
}
